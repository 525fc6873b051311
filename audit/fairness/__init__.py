"""Protected-attribute reliance: does the model's decision change when only a protected attribute does?

The Equal Credit Opportunity Act and Regulation B forbid credit decisions on race, colour,
religion, national origin, sex, marital status, age or receipt of public assistance; the EU AI
Act (Art. 10(2)(f), 15) asks for bias examination. Here each swapped attribute's values are
substituted into recorded decisions and re-scored on the recorded model (:mod:`.analyse`, which
imports torch); :mod:`.stats` holds the interval and the paired test, :mod:`.table` the text output.
"""

from .result import AttributeReport, FairnessResult, GroupOutcome, RecordSwaps

__all__ = ["AttributeReport", "FairnessResult", "GroupOutcome", "RecordSwaps"]
