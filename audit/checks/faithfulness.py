"""Does the explanation point at what the output actually depends on? (ERASER, for generation)

Comprehensiveness: remove the top-k attributed features and measure how much the recorded
output's log-probability (summed over its tokens, teacher-forced by
:func:`audit.scoring.teacher_forced`) drops; for an explanation of a decision, how much the
decision's score (log p(chosen) - log p(contrast)) drops. Sufficiency: keep *only* the top-k and
measure the drop (smaller is better). Both are averaged over several k (the area over the
perturbation curve, AOPC). A score alone has no scale, so the same curves are computed for
random orders of the features: a useful attribution removes more than random
(comprehensiveness gain > 0) and keeps more than random (sufficiency gain > 0).

Removing a feature: at token granularity its prompt token is replaced by the baseline token
(the prompt keeps its length and positions); at field granularity the field's value is
removed from the template (its tokens disappear) and the prompt re-tokenised.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..attribution import AttributionResult
from ..attribution.scorer import PrefixCachedScorer, common_prefix
from ..errors import UserError
from ..prompts import full_template
from ..record import GenerationRecord
from ..scoring import teacher_forced

BINS = (0.01, 0.05, 0.1, 0.2, 0.5)  # fractions of the features removed, as in ERASER

Remover = Callable[[frozenset[int]], list[int]]  # removed feature indices -> prompt ids


@dataclass
class Faithfulness:
    comprehensiveness: float  # AOPC, nats of the output's log-probability
    sufficiency: float
    random_comprehensiveness: float
    random_sufficiency: float
    ks: list[int]
    full_logprob: float
    random_orders: int
    random_comprehensiveness_sd: float = float("nan")  # spread of the random reference across orders
    random_sufficiency_sd: float = float("nan")
    prompts_scored: int = 0

    @property
    def comprehensiveness_gain(self) -> float:
        return self.comprehensiveness - self.random_comprehensiveness

    @property
    def sufficiency_gain(self) -> float:
        return self.random_sufficiency - self.sufficiency

    def to_dict(self) -> dict[str, object]:
        return {
            "comprehensiveness": self.comprehensiveness,
            "sufficiency": self.sufficiency,
            "random_comprehensiveness": self.random_comprehensiveness,
            "random_sufficiency": self.random_sufficiency,
            "comprehensiveness_gain": self.comprehensiveness_gain,
            "sufficiency_gain": self.sufficiency_gain,
            "ks": list(self.ks),
            "full_logprob": self.full_logprob,
            "random_orders": self.random_orders,
            "random_comprehensiveness_sd": self.random_comprehensiveness_sd,
            "random_sufficiency_sd": self.random_sufficiency_sd,
        }


def removal_sizes(n_features: int) -> list[int]:
    """The k of each ERASER bin, at least 1 and at most n - 1 (removing all says nothing)."""
    if n_features < 2:
        return []
    return sorted({max(1, min(n_features - 1, math.ceil(f * n_features))) for f in BINS})


def _chat_flag(tokenizer, record: GenerationRecord) -> bool:
    for chat in (False, True):
        try:
            if (
                full_template(tokenizer, record.template, record.system, chat).format(**record.variables)
                == record.prompt
            ):
                return chat
        except (KeyError, IndexError, ValueError):
            continue
    raise UserError(f"record {record.id}: its template does not render to its prompt, so fields cannot be removed")


def field_remover(tokenizer, record: GenerationRecord, features: Sequence[str]) -> Remover:
    """Render the full (chat-wrapped) template with the removed fields' values emptied."""
    if record.template is None or not record.variables:
        raise UserError(f"record {record.id} has no template fields: use token granularity for faithfulness")
    missing = [f for f in features if f not in record.variables]
    if missing:
        raise UserError(f"attribution features {', '.join(missing)} are not template fields of record {record.id}")
    template = full_template(tokenizer, record.template, record.system, _chat_flag(tokenizer, record))
    names = list(features)

    def remove(removed: frozenset[int]) -> list[int]:
        values = dict(record.variables)
        for index in removed:
            values[names[index]] = ""
        text = template.format(**values)
        return list(tokenizer(text, add_special_tokens=record.add_special_tokens)["input_ids"])

    return remove


def token_groups(result: AttributionResult, record: GenerationRecord) -> list[list[int]]:
    """Prompt positions of each token feature, as the explainer recorded them (``extra``)."""
    groups = (result.extra or {}).get("feature_positions")
    if groups is not None and len(groups) == len(result.features):
        return [[int(p) for p in (g if isinstance(g, (list, tuple)) else [g])] for g in groups]
    if len(result.features) == len(record.input_ids):
        return [[p] for p in range(len(record.input_ids))]
    raise UserError(
        f"cannot map the {len(result.features)} token features of this explanation onto the {len(record.input_ids)} prompt "
        "tokens: set faithfulness = false for this case"
    )


def baseline_token_id(result: AttributionResult) -> int:
    """The token an absent feature becomes: the explainer's own baseline token (Captum's default 0)."""
    for key in ("baseline_token", "baseline_token_id"):
        value = result.params.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return 0


def token_remover(record: GenerationRecord, result: AttributionResult) -> Remover:
    groups = token_groups(result, record)
    replacement = baseline_token_id(result)

    def remove(removed: frozenset[int]) -> list[int]:
        ids = list(record.input_ids)
        for index in removed:
            for position in groups[index]:
                ids[position] = replacement
        return ids

    return remove


def remover_for(tokenizer, record: GenerationRecord, result: AttributionResult) -> Remover:
    if result.granularity == "field":
        return field_remover(tokenizer, record, result.features)
    if result.granularity == "token":
        return token_remover(record, result)
    raise UserError(
        f"faithfulness is measured for token and field granularity, not {result.granularity}: set faithfulness = false"
    )


def descending(scores: Sequence[float]) -> list[int]:
    """Feature indices from most to least supportive of the output (ties: earlier first)."""
    values = np.asarray(scores, dtype=np.float64)
    return sorted(range(values.size), key=lambda index: (-values[index], index))


def _requests(
    remove: Remover, order: Sequence[int], ks: Sequence[int], sufficiency: bool = True
) -> list[tuple[list[int], list[int] | None]]:
    """For each k: (prompt without the top-k, prompt with only the top-k or None)."""
    everything = frozenset(range(len(order)))
    return [
        (remove(frozenset(order[:k])), remove(everything - frozenset(order[:k])) if sufficiency else None) for k in ks
    ]


def score_prompts(scorer, prompts: Sequence[tuple[int, ...]], batch_size: int) -> dict[tuple[int, ...], float]:
    """Summed output log-probability after each prompt, batched by where the prompt first changes.

    The scorer recomputes a batch from the earliest position any of its rows changed, so
    batching prompts in order of that position lets each batch reuse the longest unchanged
    prefix (random removal orders change the prompt anywhere; this roughly halves the work
    against batching them in the order they were drawn).
    """
    ordered = sorted(prompts, key=lambda p: (common_prefix(p, scorer.prompt_ids), len(p)))
    scores: dict[tuple[int, ...], float] = {}
    for start in range(0, len(ordered), batch_size):
        chunk = ordered[start : start + batch_size]
        for prompt, value in zip(chunk, scorer.score([list(p) for p in chunk]).sum(dim=1).tolist()):
            scores[prompt] = float(value)
    return scores


def measure(
    model,
    tokenizer,
    record: GenerationRecord,
    result: AttributionResult,
    *,
    random_orders: int = 8,
    seed: int = 0,
    remover: Remover | None = None,
    batch_size: int = 16,
    sufficiency: bool = True,
) -> Faithfulness | None:
    """Faithfulness of ``result`` (an explanation of ``record``); ``None`` below two features.

    ``sufficiency=False`` scores only the comprehensiveness curves (half the prompts; the
    sufficiency fields are then NaN), for callers that gate comprehensiveness alone.

    The unperturbed log-probability is :func:`audit.scoring.teacher_forced`'s; the perturbed
    prompts (deduplicated) are scored in batches by the explainer's prefix-cached scorer,
    which computes the same quantity (checked against ``teacher_forced`` in the tests).
    """
    n = len(result.features)
    ks = removal_sizes(n)
    if not ks:
        return None
    remove = remover or remover_for(tokenizer, record, result)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    target = result.target
    if target.kind == "decision":
        from ..attribution.contrast import ContrastScorer

        ids = record.decision.label_token_ids
        scorer = ContrastScorer(model, record.input_ids, ids[target.label], ids[target.contrast], pad)
        full = float(scorer.unperturbed.sum())
    else:
        scorer = PrefixCachedScorer(model, record.input_ids, record.output_ids, pad_id=pad)
        full = float(sum(teacher_forced(model, record.input_ids, record.output_ids).token_logprobs))
    rng = np.random.default_rng(seed)
    orders = [descending(result.seq_attr)] + [rng.permutation(n).tolist() for _ in range(random_orders)]
    plans = [_requests(remove, order, ks, sufficiency) for order in orders]
    unique = list(dict.fromkeys(tuple(p) for plan in plans for pair in plan for p in pair if p is not None))
    scores = score_prompts(scorer, unique, batch_size)

    def aopc(plan: list[tuple[list[int], list[int] | None]]) -> tuple[float, float]:
        comp = float(np.mean([full - scores[tuple(without)] for without, _ in plan]))
        return comp, (float(np.mean([full - scores[tuple(only)] for _, only in plan])) if sufficiency else float("nan"))

    comp, suff = aopc(plans[0])
    randoms = np.asarray([aopc(plan) for plan in plans[1:]], dtype=np.float64).reshape(-1, 2)
    nan = float("nan")
    return Faithfulness(
        comprehensiveness=comp,
        sufficiency=suff,
        random_comprehensiveness=float(randoms[:, 0].mean()) if len(randoms) else nan,
        random_sufficiency=float(randoms[:, 1].mean()) if len(randoms) else nan,
        ks=ks,
        full_logprob=full,
        random_orders=random_orders,
        random_comprehensiveness_sd=float(randoms[:, 0].std(ddof=1)) if len(randoms) > 1 else nan,
        random_sufficiency_sd=float(randoms[:, 1].std(ddof=1)) if len(randoms) > 1 else nan,
        prompts_scored=len(unique),
    )
