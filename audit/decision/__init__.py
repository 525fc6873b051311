"""Decisions: what was decided, scored from the model's label probabilities at the start of the answer.

A use case, a template or one call declares a *decision specification* (:mod:`.spec`): two or more
labels (``APPROVE``/``DECLINE``, ``LOW``/``MEDIUM``/``HIGH``) and the one favourable to the applicant.
At generation time each label's token sequence (:mod:`.labels`) is scored right after the prompt by
:mod:`.scorer` (batched and prefix-cached, so many prompts score at once), and the outcome is
recorded with the generation (:class:`audit.record.DecisionRecord`, built by :mod:`.outcome`);
:mod:`.generate` runs the two modes, ``free`` and ``constrained``, for recording and replay alike.

Importing this package does not import torch: the specification is checked before a model loads.
"""

from .spec import MODES, DecisionSpec, check_spec

__all__ = ["MODES", "DecisionSpec", "check_spec"]
