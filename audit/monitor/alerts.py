"""Evaluating alert rules on each window: which fire, and the alert each one makes (not stored here).

A rule is checked against the data before any window is evaluated: its use case must have decided
records in the monitored windows, its label must be one of their labels, its segment's and flip
rate's field one of their template fields, and a test rule needs a reference that has the group;
anything else is one line naming the problem (exit 2, nothing stored).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import UserError
from ..store.monitoring import DecidedRow
from .compare import metric_name, metric_value, proportion_change, psi_change, where
from .result import MAX_NAMED_RECORDS, AlertResult
from .rules import Rule
from .tally import Context, GroupStats, tally
from .windows import Window


def _check(rule: Rule, rows: list[DecidedRow]) -> None:
    mine = [r for r in rows if r.use_case == rule.use_case]
    if not mine:
        raise UserError(
            f"rule {rule.name!r}: no decided record of use case {rule.use_case!r} in the monitored windows "
            "(check the use case's spelling, or the window)"
        )
    if rule.label is not None and not any(rule.label in r.decision.labels for r in mine):
        labels = sorted({label for r in mine for label in r.decision.labels})
        raise UserError(f"rule {rule.name!r}: label {rule.label!r} is not a label of {rule.use_case!r}: {labels}")
    for name in (rule.segment.field if rule.segment else None, rule.field):
        if name is not None and not any(name in r.variables for r in mine):
            raise UserError(f"rule {rule.name!r}: no decided record of {rule.use_case!r} has a template field {name!r}")


def _group(rule: Rule, rows: list[DecidedRow], context: Context, flips: dict[str, Any]) -> GroupStats:
    segment = rule.segment.label if rule.segment else "all"
    mine = [
        r for r in rows if r.use_case == rule.use_case and (rule.segment is None or rule.segment.matches(r.variables))
    ]
    return tally(rule.use_case, segment, mine, context, flips)


def _threshold(rule: Rule, group: GroupStats, window: Window) -> tuple[str, float] | None:
    value = metric_value(group, rule.metric, rule.key)
    if value is None:
        return None
    shown = (lambda x: f"{x:.0%}") if rule.metric not in ("margin", "label_mass") else (lambda x: f"{x:.3f}")
    name = metric_name(rule.metric, rule.key)
    name = {"margin": "mean margin", "label_mass": "mean label mass"}.get(rule.metric, name)
    if rule.above is not None and value > rule.above:
        return f"{name} for {where(group)} is {shown(value)}, above {shown(rule.above)} (n {group.n})", value
    if rule.below is not None and value < rule.below:
        return f"{name} for {where(group)} is {shown(value)}, below {shown(rule.below)} (n {group.n})", value
    return None


def evaluate_rules(
    rules: list[Rule],
    windows: list[Window],
    window_rows: list[list[DecidedRow]],
    reference_rows: list[DecidedRow],
    reference_groups: list[GroupStats],
    reference: dict[str, str],
    context: Context,
    flips_of: Callable[[Window], dict[str, Any]],
    reference_window: Window,
    notes: list[str],
) -> tuple[list[AlertResult], list[str]]:
    """The alerts the rules raise, oldest window first, and notes on rules that could not be evaluated."""
    every = [r for rows in window_rows for r in rows]
    for rule in rules:
        _check(rule, every)
    baseline = "baseline" in reference
    saved = {(g.use_case, g.segment): g for g in reference_groups}
    alerts: list[AlertResult] = []
    notes = list(notes)
    for rule in rules:
        ref: GroupStats | None = None
        if rule.test is not None:
            segment = rule.segment.label if rule.segment else "all"
            if baseline:
                ref = saved.get((rule.use_case, segment))
            else:
                ref = _group(rule, reference_rows, context, flips_of(reference_window))
            if ref is None or ref.n == 0:
                raise UserError(
                    f"rule {rule.name!r} tests against the reference, which holds no decided record of "
                    f"{rule.use_case!r}{'' if segment == 'all' else ' with ' + segment}: choose --reference or --baseline"
                )
        for window, rows in zip(windows, window_rows):
            group = _group(rule, rows, context, flips_of(window))
            if group.n < rule.min_records:
                notes.append(
                    f"rule {rule.name!r} not evaluated on {window.label}: {group.n} records (min_records {rule.min_records})"
                )
                continue
            test: dict[str, Any] | None = None
            fired: tuple[str, float] | None = None
            if rule.test is None:
                fired = _threshold(rule, group, window)
            elif rule.test == "proportion":
                change = proportion_change(group, ref, rule.metric, rule.key, rule.alpha or 0)
                if change is not None and change.significant:
                    fired = change.text, change.statistic
                    test = {"name": "proportion", "statistic": change.statistic, "p_value": change.p_value}
            else:
                keys = sorted(set(group.labels) | set(ref.labels)) if rule.metric == "decision_rate" else None
                change = psi_change(group, ref, rule.metric, rule.max or 0, rule.alpha or 0.01, keys)
                if change is not None and change.significant:
                    fired = change.text, change.statistic
                    test = {"name": "psi", "statistic": change.statistic, "p_value": change.p_value}
            if test is not None:
                test.update(n_current=change.n_current, n_reference=change.n_reference)
            if fired is None:
                continue
            text, value = fired
            alerts.append(
                AlertResult(
                    rule=rule.raw,
                    severity=rule.severity,
                    window=window.to_dict(),
                    reference=dict(reference) if rule.test is not None else None,
                    text=f"{rule.name}: {text}, in {window.label}",
                    value=value,
                    test=test,
                    records=group.n,
                    record_ids=group.record_ids[:MAX_NAMED_RECORDS],
                )
            )
    return alerts, notes
