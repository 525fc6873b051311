"""Re-score a recorded decision with some template fields changed: scoring only, no generation.

An alternative is the record's own prompt (its template, chat markup, system message and the
other fields exactly as recorded) with a few field values replaced and re-tokenised; its score is
each decision label's log-probability at the start of the answer, from the same label scorer that
scored the decision at generation time (:mod:`audit.decision.scorer`), with the record's own label
token ids. Many records of one template share the prompt up to their first differing field, so
every variant of every record goes through one prefix-cached scorer in batches.

Before any alternative counts, the recorded prompt itself is re-scored: it must give the recorded
label log-probabilities (within :data:`audit.tolerances.REPLAY_TOLERANCE`, 1e-4: the same computation, as a replay), which is what says the
numbers are computed on the recorded model and prompt. Otherwise the request is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..attribution.inputs import build_features
from ..decision.outcome import normalised, ranked
from ..decision.scorer import score_labels
from ..errors import UserError
from ..model import LoadedModel
from ..record import GenerationRecord
from ..tolerances import REPLAY_TOLERANCE


@dataclass
class Scored:
    """One prompt's decision: each label's log-probability, the probabilities over the labels, the choice."""

    label_logprobs: dict[str, float]
    probabilities: dict[str, float]
    chosen: str

    @classmethod
    def of(cls, labels: Sequence[str], logprobs: Sequence[float]) -> Scored:
        lps = [float(x) for x in logprobs]
        return cls(dict(zip(labels, lps)), dict(zip(labels, normalised(lps))), labels[ranked(labels, lps)[0]])


def check_decided(record: GenerationRecord, fields: Sequence[str], what: str) -> None:
    """The record must have a decision and a template with every field named (one message each)."""
    if record.decision is None:
        raise UserError(
            f"record {record.id} has no decision to re-score: record it with a decision "
            "(--decision-labels APPROVE,DECLINE --favourable APPROVE)"
        )
    if record.prompt_kind != "template" or not record.template:
        raise UserError(f"record {record.id} has no template, so no fields to {what}: record it from a template")
    missing = [name for name in fields if name not in (record.variables or {})]
    if missing:
        have = ", ".join(record.variables or {})
        raise UserError(
            f"record {record.id}'s template has no field {', '.join(missing)} (it has {have}): {what} one of those"
        )


class VariantPrompts:
    """The token ids of a record's prompt with some fields replaced, as the model would see them."""

    def __init__(self, record: GenerationRecord, tokenizer) -> None:
        space = build_features(record, tokenizer, "field")  # refuses a prompt that no longer renders or tokenises
        self.record = record
        self.template = space.template or ""
        self.values = dict(space.values or {})
        self.add_special_tokens = space.add_special_tokens
        self.tokenizer = tokenizer

    def ids(self, changes: Sequence[dict[str, str]]) -> list[list[int]]:
        texts = [self.template.format(**{**self.values, **change}) for change in changes]
        if not texts:
            return []
        encoded = self.tokenizer(texts, add_special_tokens=self.add_special_tokens)["input_ids"]
        return [list(ids) for ids in encoded]


@dataclass
class Rescoring:
    """The decisions of every variant, and how closely the recorded prompt reproduced the recorded decision."""

    variants: list[Scored]
    reference: Scored
    logprob_max_diff: float
    prompts: int  # prompts scored, the recorded one included


def label_ids(record: GenerationRecord) -> list[list[int]]:
    decision = record.decision
    assert decision is not None
    return [list(decision.label_token_ids[label]) for label in decision.labels]


def check_reference(record: GenerationRecord, logprobs: Sequence[float], tolerance: float = REPLAY_TOLERANCE) -> float:
    """Max |difference| between the recorded label log-probabilities and the re-scored recorded prompt's;
    refuses (UserError) beyond ``tolerance``: the model or the prompt is not the one recorded."""
    decision = record.decision
    assert decision is not None
    diff = max(abs(float(lp) - decision.label_logprobs[label]) for label, lp in zip(decision.labels, logprobs))
    if not diff <= tolerance:
        raise UserError(
            f"re-scoring record {record.id}'s own prompt gives label log-probabilities {diff:.2e} away from the recorded "
            f"ones (tolerance {tolerance:g}): this is not the model that recorded it; load that model (--model)"
        )
    return diff


def rescore_many(
    loaded: LoadedModel,
    jobs: Sequence[tuple[GenerationRecord, Sequence[dict[str, str]]]],
    *,
    batch_size: int = 32,
    tolerance: float = REPLAY_TOLERANCE,
) -> list[Rescoring]:
    """Each (record, changes) job's variants scored, in one prefix-cached pass per set of label token ids.

    The recorded prompt of each record is scored in the same batches (its check); records whose labels
    tokenise to the same ids share one scorer, with the first record's prompt as its cached reference.
    """
    prompts: list[list[int]] = []
    spans: list[tuple[int, int]] = []
    for record, changes in jobs:
        variants = VariantPrompts(record, loaded.tokenizer)
        start = len(prompts)
        prompts.append(list(record.input_ids))
        prompts += variants.ids(changes)
        spans.append((start, len(prompts)))
    by_labels: dict[tuple, list[int]] = {}
    for index, (record, _) in enumerate(jobs):
        by_labels.setdefault(tuple(map(tuple, label_ids(record))), []).append(index)
    scores = np.zeros((len(prompts), 0)).tolist()
    pad = loaded.tokenizer.pad_token_id if loaded.tokenizer.pad_token_id is not None else 0
    for labels, members in by_labels.items():
        rows = [i for m in members for i in range(*spans[m])]
        out = score_labels(
            loaded.model,
            [prompts[i] for i in rows],
            [list(ids) for ids in labels],
            reference=prompts[spans[members[0]][0]],
            batch_size=batch_size,
            pad_id=pad,
        )
        for row, values in zip(rows, out):
            scores[row] = values.tolist()
    results = []
    for (record, _), (start, end) in zip(jobs, spans):
        decision = record.decision
        assert decision is not None
        diff = check_reference(record, scores[start], tolerance)
        results.append(
            Rescoring(
                variants=[Scored.of(decision.labels, scores[i]) for i in range(start + 1, end)],
                reference=Scored.of(decision.labels, scores[start]),
                logprob_max_diff=diff,
                prompts=end - start,
            )
        )
    return results
