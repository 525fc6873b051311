"""Counterfactuals for one record: which single-field (or two-field) changes would have changed the decision.

For every field and every value given for it (in the order given), the record's prompt is rebuilt
with that one value substituted and the decision re-scored (:mod:`.rescore`); with ``pairs``, every
combination of two fields' values too. The *smallest change that flips the decision* of a field is
the first of its values, in the order given, whose re-scored label differs from the recorded one: a
caller who lists credit scores upward from the recorded one gets the smallest rise that would have
sufficed.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence

from ..errors import UserError
from ..model import LoadedModel
from ..record import GenerationRecord
from ..replay.model_check import same_model
from .rescore import check_decided, rescore_many
from .result import Alternative, CounterfactualResult
from .values import Variation, format_like

MAX_ALTERNATIVES = 5000  # a pairs run over long ranges grows as the product; past this it is refused


def check_model(record: GenerationRecord, loaded: LoadedModel, what: str) -> None:
    if not same_model(record.model, loaded.identity):
        raise UserError(
            f"record {record.id} was recorded with {record.model.name} (other weights than {loaded.identity.name}): "
            f"{what} re-scores on the recorded model only; pass it with --model"
        )


def plan(record: GenerationRecord, variations: Sequence[Variation], pairs: bool) -> list[dict[str, str]]:
    """The changes to try: each field's values (written like the recorded value), then pairs if asked."""
    check_decided(record, [v.field for v in variations], "vary")
    if not variations:
        raise UserError("no alternative given: name a field and its values, e.g. --vary credit_score=620,680,720")
    recorded = {k: str(v) for k, v in (record.variables or {}).items()}
    singles = [
        [{v.field: format_like(value, recorded[v.field])} for value in v.values if value != recorded[v.field]]
        for v in variations
    ]
    for variation, values in zip(variations, singles):
        if not values:
            raise UserError(f"--vary {variation.field}: every value given is the recorded one; give other values")
    changes = [change for values in singles for change in values]
    if pairs:
        if len(variations) < 2:
            raise UserError("--pairs needs at least two varied fields")
        for a, b in itertools.combinations(singles, 2):
            changes += [{**x, **y} for x in a for y in b]
    if len(changes) > MAX_ALTERNATIVES:
        raise UserError(
            f"{len(changes)} alternatives to score (at most {MAX_ALTERNATIVES}): list fewer values or drop --pairs"
        )
    return changes


def counterfactuals(
    loaded: LoadedModel, record: GenerationRecord, variations: Sequence[Variation], *, pairs: bool = False
) -> CounterfactualResult:
    """Score every alternative of ``record``'s decision (the record opened: clear variables)."""
    changes = plan(record, variations, pairs)
    check_model(record, loaded, "a counterfactual")
    started = time.perf_counter()
    [scored] = rescore_many(loaded, [(record, changes)])
    decision = record.decision
    assert decision is not None
    alternatives = [
        Alternative(change, s.label_logprobs, s.probabilities, s.chosen, s.chosen != decision.chosen)
        for change, s in zip(changes, scored.variants)
    ]
    smallest: dict[str, int | None] = {v.field: None for v in variations}
    for index, alternative in enumerate(alternatives):
        if len(alternative.changes) == 1 and alternative.flips:
            (name,) = alternative.changes
            if smallest[name] is None:
                smallest[name] = index
    return CounterfactualResult(
        record_id=record.id,
        labels=list(decision.labels),
        favourable=decision.favourable,
        recorded_chosen=decision.chosen,
        recorded_probabilities=dict(decision.probabilities),
        fields={v.field: [next(iter(c.values())) for c in changes if list(c) == [v.field]] for v in variations},
        pairs=pairs,
        alternatives=alternatives,
        smallest_flip=smallest,
        logprob_max_diff=scored.logprob_max_diff,
        model=model_of(loaded),
        seconds=round(time.perf_counter() - started, 6),
    )


def model_of(loaded: LoadedModel) -> dict[str, str]:
    """What scored it: the model's name and its weights files' SHA-256 (``file=digest``, as the record table lists them)."""
    return {"name": loaded.identity.name, "weights_sha256": loaded.identity.weights_text}
