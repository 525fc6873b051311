"""Segments: which records a figure is about, by a template field's value.

A categorical field is taken as recorded (``marital_status = single``); a numeric one (``$42,000``,
``580``, ``35%``: currency signs, thousands separators and a percent sign are ignored) falls into
stated bins (``income < 40,000``). On the command line ``--segment FIELD`` groups by every value of a
categorical field, ``--segment FIELD:40000,80000`` cuts a numeric one at those points; a rule's
``segment`` is one bin written as a condition: ``"income < 40000"``, ``"40000 <= income < 80000"``,
``"marital_status = single"``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import UserError

MAX_CATEGORIES = 20  # a categorical field with more distinct values must be cut into numeric bins
_NUMBER = re.compile(r"[$€£¥,\s_]")
_FIELD = r"[A-Za-z_][A-Za-z0-9_]*"
_NUM = r"-?[0-9][0-9,_]*(?:\.[0-9]+)?"
_RANGE = re.compile(rf"\s*({_NUM})\s*<=\s*({_FIELD})\s*<\s*({_NUM})\s*\Z")
_COMPARE = re.compile(rf"\s*({_FIELD})\s*(<=|>=|<|>|=)\s*(.+?)\s*\Z")


def numeric(value: Any) -> float | None:
    """A template value as a number, or None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    text = _NUMBER.sub("", value).removesuffix("%")
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if x == int(x) else f"{x:,g}"


@dataclass(frozen=True)
class Segment:
    """A condition on one template field: a value (categorical) or a half-open numeric bin [low, high)."""

    field: str
    value: str | None = None
    low: float | None = None  # inclusive
    high: float | None = None  # exclusive

    @property
    def label(self) -> str:
        if self.value is not None:
            return f"{self.field} = {self.value}"
        if self.low is None:
            return f"{self.field} < {_fmt(self.high)}"
        if self.high is None:
            return f"{self.field} ≥ {_fmt(self.low)}"
        return f"{_fmt(self.low)} ≤ {self.field} < {_fmt(self.high)}"

    def matches(self, variables: dict[str, Any]) -> bool:
        if self.field not in variables:
            return False
        raw = variables[self.field]
        if self.value is not None:
            return str(raw) == self.value
        x = numeric(raw)
        return x is not None and (self.low is None or x >= self.low) and (self.high is None or x < self.high)


def parse_condition(text: str, what: str = "segment") -> Segment:
    """One rule's ``segment``: ``FIELD < X``, ``FIELD >= X``, ``X <= FIELD < Y`` or ``FIELD = VALUE``."""
    found = _RANGE.match(text)
    if found:
        low, name, high = numeric(found[1]), found[2], numeric(found[3])
        if low >= high:
            raise UserError(f"{what} {text!r} is an empty range: the lower bound must be below the upper one")
        return Segment(name, low=low, high=high)
    found = _COMPARE.match(text)
    if not found:
        raise UserError(
            f"{what} {text!r} is not a condition: write FIELD < X, FIELD >= X, X <= FIELD < Y or FIELD = VALUE"
        )
    name, op, value = found[1], found[2], found[3].strip("'\"")
    if op == "=":
        return Segment(name, value=value)
    number = numeric(value)
    if number is None:
        raise UserError(f"{what} {text!r} compares {name} with {value!r}, which is not a number")
    if op in ("<=", ">"):
        raise UserError(f"{what} {text!r}: bins are half-open, write {name} < X or {name} >= X")
    return Segment(name, high=number) if op == "<" else Segment(name, low=number)


def split_spec(spec: str) -> tuple[str, list[float] | None]:
    """``--segment FIELD`` or ``FIELD:CUT,CUT``: the field and its cut points (None: not given)."""
    name, sep, cuts = spec.partition(":")
    name = name.strip()
    if not re.fullmatch(_FIELD, name):
        raise UserError(f"--segment {spec!r}: name a template field, optionally with cut points (income:40000,80000)")
    if not sep:
        return name, None
    points = [numeric(c) for c in cuts.split(",") if c.strip()]
    if not points or any(p is None for p in points):
        raise UserError(f"--segment {spec!r}: the cut points must be numbers, e.g. income:40000,80000")
    if sorted(set(points)) != points:
        raise UserError(f"--segment {spec!r}: write the cut points once each, in increasing order")
    return name, points


def bins(name: str, cuts: list[float]) -> list[Segment]:
    edges: list[float | None] = [None, *cuts, None]
    return [Segment(name, low=edges[i], high=edges[i + 1]) for i in range(len(edges) - 1)]


def segments_for(spec: str, values: Iterable[Any]) -> list[Segment]:
    """The segments of one ``--segment`` over the values the records hold (categorical as is, numeric in bins).

    A numeric field given without cut points is cut at its quartiles (rounded to two significant
    digits, stated in each bin's name); a field no record has is refused.
    """
    name, cuts = split_spec(spec)
    present = list(values)
    if not present:
        raise UserError(f"no decided record in these windows has a template field {name!r}: check --segment")
    if cuts is not None:
        return bins(name, cuts)
    numbers = [numeric(v) for v in present]
    distinct = sorted({str(v) for v in present})
    if all(n is not None for n in numbers) and len(distinct) > MAX_CATEGORIES:
        ordered = sorted(numbers)
        quartiles = sorted({_round2(ordered[len(ordered) * q // 4]) for q in (1, 2, 3)})
        return bins(name, quartiles)
    if len(distinct) > MAX_CATEGORIES:
        raise UserError(
            f"template field {name!r} has {len(distinct)} distinct values (more than {MAX_CATEGORIES}): "
            "monitor it by a numeric field instead, or by a rule's segment"
        )
    return [Segment(name, value=v) for v in distinct]


def _round2(x: float) -> float:
    if x == 0:
        return 0.0
    digits = 1 - int(math.floor(math.log10(abs(x))))
    return round(x, digits)
