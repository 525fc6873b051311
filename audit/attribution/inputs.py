"""What the features of an explanation are: tokens, template fields or chat segments of a record.

The semantics are Captum's: a token feature is replaced by a baseline token id when absent
(``TextTokenInput``); a field or a segment is a value of a format-string template replaced by the
empty string when absent and the prompt re-tokenised (``TextTemplateInput``). Chat markup (special
tokens, role headers) is part of the template and never a feature. :meth:`FeatureSpace.captum_input`
builds the equivalent Captum object, which the equivalence tests and the benchmark run against.

Gradient methods work on token embeddings; for fields and segments they attribute to the tokens of
each feature and sum them (``groups``).
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from captum.attr import TextTemplateInput, TextTokenInput

from ..errors import UserError
from ..prompts import full_template
from ..record import GenerationRecord
from .base import GRANULARITIES

_SENTINEL = "\x00LLM_AUDIT_SEGMENT_{}\x00"


class PositionTokenInput(TextTokenInput):
    """Captum's ``TextTokenInput`` over recorded ids, with features chosen by position.

    Captum's own class picks skipped tokens by id, which would also skip the word "user" inside a
    message because the role header uses the same id; audit records need positions.
    """

    def __init__(self, input_ids: Sequence[int], positions: Sequence[int], tokenizer, baseline: int = 0) -> None:
        ids = torch.tensor([list(input_ids)])
        mask = torch.zeros_like(ids, dtype=torch.bool)
        mask[0, list(positions)] = True
        self.inp_tensor = ids
        self.itp_mask = mask
        self.itp_tensor = ids[mask].unsqueeze(0)
        self.skip_tokens = None
        self.tokenizer = tokenizer
        self.values = tokenizer.convert_ids_to_tokens(self.itp_tensor[0].tolist())
        self.n_itp_features = len(self.values)
        self.baselines = int(baseline)


@dataclass
class FeatureSpace:
    """The features of one explanation and how to build the prompt with some of them absent."""

    granularity: str
    labels: list[str]
    input_ids: list[int]
    groups: list[list[int]]  # token positions of each feature in the recorded prompt
    baseline_token: int
    template: str | None = None  # field/segment: the whole prompt as a format string
    values: dict[str, str] | None = None  # field/segment: name -> recorded value
    add_special_tokens: bool = False
    tokenizer: Any = None

    @property
    def positions(self) -> list[int]:
        """Every attributable token position (the union of the groups, in order)."""
        return sorted({p for group in self.groups for p in group})

    def perturbed_ids(self, present: torch.Tensor) -> list[list[int]]:
        """Token ids of the prompt for each row of ``present`` (batch, n_features; 0 = absent)."""
        rows = present.detach().cpu().bool().tolist()
        if self.template is None:
            out = []
            for row in rows:
                ids = list(self.input_ids)
                for keep, group in zip(row, self.groups):
                    if not keep:
                        for p in group:
                            ids[p] = self.baseline_token
                out.append(ids)
            return out
        names = list(self.values)
        texts = [
            self.template.format(**{n: (self.values[n] if keep else "") for n, keep in zip(names, row)}) for row in rows
        ]
        return [list(ids) for ids in self.tokenizer(texts, add_special_tokens=self.add_special_tokens)["input_ids"]]

    def captum_input(self):
        """The Captum interpretable input with the same features (the reference implementation)."""
        if self.template is None:
            return PositionTokenInput(self.input_ids, self.positions, self.tokenizer, self.baseline_token)
        return TextTemplateInput(self.template, dict(self.values))


def _spans(template: str, values: dict[str, str]) -> tuple[str, dict[str, list[tuple[int, int]]]]:
    """Render ``template`` and return the character spans each field's value occupies."""
    text, spans = "", {name: [] for name in values}
    for literal, name, _, _ in string.Formatter().parse(template):
        text += literal
        if name is not None:
            spans[name].append((len(text), len(text) + len(values[name])))
            text += values[name]
    return text, spans


def _token_groups(
    tokenizer, text: str, add_special: bool, spans: dict[str, list[tuple[int, int]]], expected: list[int]
) -> dict[str, list[int]]:
    enc = tokenizer(text, add_special_tokens=add_special, return_offsets_mapping=True)
    if list(enc["input_ids"]) != list(expected):
        raise UserError(
            "the recorded prompt no longer tokenises to the recorded input ids with this tokenizer: explain with the model that recorded it"
        )
    special = set(tokenizer.all_special_ids)
    groups: dict[str, list[int]] = {name: [] for name in spans}
    for pos, ((start, end), token) in enumerate(zip(enc["offset_mapping"], enc["input_ids"])):
        if token in special or end <= start:
            continue
        for name, ranges in spans.items():
            if any(start < e and s < end for s, e in ranges):
                groups[name].append(pos)
                break
    return groups


def _segment_template(tokenizer, messages: list[dict[str, str]]) -> tuple[str, dict[str, str], list[str]]:
    masked = [{**m, "content": _SENTINEL.format(i)} for i, m in enumerate(messages)]
    rendered = tokenizer.apply_chat_template(masked, tokenize=False, add_generation_prompt=True)
    template = rendered.replace("{", "{{").replace("}", "}}")
    values, labels, seen = {}, [], {}
    for i, message in enumerate(messages):
        template = template.replace(_SENTINEL.format(i), f"{{seg{i}}}")
        values[f"seg{i}"] = str(message["content"])
        role = str(message.get("role", "turn"))
        seen[role] = seen.get(role, 0) + 1
        labels.append(role if seen[role] == 1 else f"{role} ({seen[role]})")
    return template, values, labels


def _is_chat(record: GenerationRecord) -> bool:
    return record.prompt_kind == "messages" or (record.prompt_kind == "template" and not record.add_special_tokens)


def build_features(record: GenerationRecord, tokenizer, granularity: str, baseline_token: int = 0) -> FeatureSpace:
    """The feature space of ``record`` at ``granularity``; refuses what the record cannot support."""
    if granularity not in GRANULARITIES:
        raise UserError(f"unknown granularity {granularity!r}: use one of {', '.join(GRANULARITIES)}")
    common = dict(
        granularity=granularity,
        input_ids=list(record.input_ids),
        baseline_token=int(baseline_token),
        tokenizer=tokenizer,
    )
    if granularity == "field":
        if record.prompt_kind != "template" or not record.template:
            raise UserError(
                f"record {record.id} has no template, so no fields: use --granularity token (or segment for chat prompts)"
            )
        values = {k: str(v) for k, v in (record.variables or {}).items()}
        template = full_template(tokenizer, record.template, record.system, _is_chat(record))
        text, spans = _spans(template, values)
        if text != record.prompt:
            raise UserError(
                "the record's template no longer renders to its prompt with this tokenizer's chat template: explain with --granularity token"
            )
        groups = _token_groups(tokenizer, text, record.add_special_tokens, spans, record.input_ids)
        return FeatureSpace(
            labels=list(values),
            groups=[groups[n] for n in values],
            template=template,
            values=values,
            add_special_tokens=record.add_special_tokens,
            **common,
        )
    if _is_chat(record):
        template, values, labels = _segment_template(tokenizer, record.messages or [])
        text, spans = _spans(template, values)
        if text != record.prompt:
            raise UserError(
                "the record's messages no longer render to its prompt with this tokenizer's chat template: explain with the model that recorded it"
            )
        groups = _token_groups(tokenizer, text, record.add_special_tokens, spans, record.input_ids)
    elif granularity == "segment":
        raise UserError(
            f"record {record.id} is a plain-text prompt without chat segments: use --granularity token (or field for templates)"
        )
    else:
        special = set(tokenizer.all_special_ids)
        groups = {"prompt": [i for i, t in enumerate(record.input_ids) if t not in special]}
        template = values = labels = None
    if granularity == "segment":
        return FeatureSpace(
            labels=labels,
            groups=[groups[n] for n in values],
            template=template,
            values=values,
            add_special_tokens=record.add_special_tokens,
            **common,
        )
    positions = sorted(p for group in groups.values() for p in group)
    labels = [tokenizer.decode([record.input_ids[p]]) for p in positions]
    return FeatureSpace(labels=labels, groups=[[p] for p in positions], **common)
