"""``monitor``: decided records over windows, per use case and segment, against a reference, with alert rules.

Reads go through the store (:mod:`audit.store.monitoring`, the explanations and fairness
repositories); nothing here writes. :func:`monitor` checks the whole request first (windows,
segments, rules, baseline) so that bad input stores nothing; :func:`store_alerts` then logs the
firings as evidence in one transaction.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..decision.reasons import toward_decision
from ..errors import UserError
from ..store import AuditStore
from ..store.monitoring import DecidedRow
from .alerts import evaluate_rules
from .compare import Change, compare, holm
from .result import AlertResult
from .rules import Rule, load_rules
from .segments import Segment, segments_for, split_spec
from .tally import Context, GroupStats, tally
from .windows import Window, plan

FORMAT = "llm-audit-monitor/1"


@dataclass
class MonitorRequest:
    """One monitoring run, validated once by :func:`monitor`."""

    window: str = "7d"
    since: str | None = None
    until: str | None = None
    reference: str | None = None  # "SINCE..UNTIL"; default: the window before the first
    baseline: Path | str | None = None  # a saved ``monitor --json`` output: its last window is the reference
    use_case: str | None = None
    segments: list[str] = field(default_factory=list)  # "FIELD" or "FIELD:CUT,CUT"
    alpha: float = 0.01
    psi_max: float = 0.25
    rules: Path | str | None = None
    now: datetime | None = None  # the end of the last window when ``until`` is not given (tests pin it)


@dataclass
class WindowReport:
    window: Window
    groups: list[GroupStats]
    changes: list[Change]


@dataclass
class MonitorReport:
    windows: list[WindowReport]
    reference: dict[str, str]  # {"since", "until"} or {"baseline": path}
    reference_groups: list[GroupStats]
    alpha: float
    psi_max: float
    alerts: list[AlertResult] = field(default_factory=list)
    rules: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "tests": {"alpha": self.alpha, "psi_max": self.psi_max},
            "reference": {**self.reference, "groups": [g.to_dict() for g in self.reference_groups]},
            "windows": [
                {
                    **w.window.to_dict(),
                    "groups": [g.to_dict() for g in w.groups],
                    "changes": [c.to_dict() for c in w.changes],
                }
                for w in self.windows
            ],
            "rules": self.rules,
            "alerts": [a.to_dict() for a in self.alerts],
            "notes": self.notes,
        }


def _baseline(path: Path) -> tuple[dict[str, str], list[GroupStats]]:
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError(f"format is {data.get('format')!r}, not {FORMAT!r}")
        groups = [GroupStats.from_dict(g) for g in data["windows"][-1]["groups"]]
    except OSError as exc:
        raise UserError(f"cannot read baseline {path}: {exc.strerror}") from None
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise UserError(f"baseline {path} is not the output of `llm-audit monitor --json` ({exc})") from None
    return {"baseline": str(path)}, groups


def _reasons(store: AuditStore, rows: dict[str, DecidedRow]) -> dict[str, str]:
    """Record id -> the principal reason of its adverse decision, from its latest decision explanation against
    the favourable label (the only contrast whose figures are adverse-action reasons): the reason the template
    maps the field to (the notice's wording, a reason code), else the field's name."""
    found: dict[str, str] = {}
    for result in store.explanations.iter(granularity="field", target="decision"):
        row = rows.get(result.record_id)
        if row is None or not row.decision.adverse or result.target.contrast != row.decision.favourable:
            continue
        toward = toward_decision(result.seq_attr)
        if toward:
            name = result.features[toward[0]]
            found[result.record_id] = row.decision.reasons.get(name) or name
    return found


def _flips(runs: list[Any], window: Window) -> dict[str, dict[str, Any]]:
    """Use case -> field -> the flip rate of the latest fairness run made in the window (its id, its counts)."""
    out: dict[str, dict[str, Any]] = {}
    for run in runs:  # the log's order: a later run replaces an earlier one
        if not window.since <= (run.created_at or "") < window.until:
            continue
        for a in run.attributes:
            entry = {"flipped": a.flipped, "records": a.records, "run": run.id}
            out.setdefault(run.use_case or "*", {})[a.field] = entry
    return out


def _groups(
    rows: list[DecidedRow], cases: dict[str, dict[str, list[Segment]]], context: Context, flips: dict
) -> list[GroupStats]:
    by_case: dict[str, list[DecidedRow]] = defaultdict(list)
    for row in rows:
        by_case[row.use_case].append(row)
    groups = []
    for case, segments in cases.items():
        mine = by_case.get(case, [])
        groups.append(tally(case, "all", mine, context, flips))
        for spec_segments in segments.values():
            for segment in spec_segments:
                groups.append(tally(case, segment.label, [r for r in mine if segment.matches(r.variables)], context))
    return groups


def monitor(store: AuditStore, request: MonitorRequest) -> MonitorReport:
    """The figures of every window and the reference, the tested changes, and the rules that fire (not stored)."""
    if not 0 < request.alpha < 0.5:
        raise UserError(f"--alpha {request.alpha} is not between 0 and 0.5: use e.g. 0.01")
    if request.psi_max <= 0:
        raise UserError(f"--psi-max {request.psi_max} is not positive: use e.g. 0.25")
    if request.baseline is not None and request.reference is not None:
        raise UserError("give --reference or --baseline, not both")
    windows, ref_window = plan(request.window, request.since, request.until, request.reference, request.now)
    for spec in request.segments:
        split_spec(spec)
    rules: list[Rule] = load_rules(Path(request.rules)) if request.rules is not None else []
    baseline = Path(request.baseline) if request.baseline is not None else None
    reference, reference_groups = _baseline(baseline) if baseline is not None else ({}, [])
    if request.baseline is None:
        reference = ref_window.to_dict()
    span_start = min(windows[0].start, ref_window.start) if request.baseline is None else windows[0].start
    span = Window(span_start, windows[-1].end)
    use_case = request.use_case
    rows = list(store.monitoring.decisions(span.since, span.until, use_case))
    current = [r for r in rows if windows[0].since <= r.started_at < windows[-1].until]
    if not current:
        where = f" of use case {use_case!r}" if use_case else ""
        raise UserError(
            f"no decided record{where} between {windows[0].since[:19]}Z and {windows[-1].until[:19]}Z: "
            "the window is empty; choose another --window, --since or --until"
        )
    cases: dict[str, dict[str, list[Segment]]] = {}
    for case in sorted({r.use_case for r in rows}):
        cases[case] = {}
        for spec in request.segments:
            name, _ = split_spec(spec)
            values = [r.variables[name] for r in rows if r.use_case == case and name in r.variables]
            if values:
                cases[case][spec] = segments_for(spec, values)
    for spec in request.segments:
        if not any(spec in segs for segs in cases.values()):
            raise UserError(f"no decided record in these windows has a template field {split_spec(spec)[0]!r}")
    by_id = {r.record_id: r for r in rows}
    context = Context(
        replays=store.monitoring.latest_replay_verdicts(span.since, span.until, use_case),
        sign_offs=store.monitoring.effective_sign_offs(span.since, span.until, use_case),
        reasons=_reasons(store, by_id),
    )
    runs = list(store.fairness.iter())
    ref_rows: list[DecidedRow] = []
    if request.baseline is None:
        ref_rows = [r for r in rows if ref_window.since <= r.started_at < ref_window.until]
        reference_groups = _groups(ref_rows, cases, context, _flips(runs, ref_window))
    reports = []
    per_window_rows: list[list[DecidedRow]] = [[] for _ in windows]
    starts = [w.since for w in windows]
    for row in current:  # each record into its window: one binary search, not one pass per window
        per_window_rows[bisect_right(starts, row.started_at) - 1].append(row)
    for window, mine in zip(windows, per_window_rows):
        groups = _groups(mine, cases, context, _flips(runs, window))
        ref = {(g.use_case, g.segment): g for g in reference_groups}
        changes = [
            c
            for g in groups
            if (g.use_case, g.segment) in ref
            for c in compare(g, ref[(g.use_case, g.segment)], request.alpha, request.psi_max)
        ]
        holm(changes, request.alpha, request.psi_max)
        reports.append(WindowReport(window, groups, changes))
    notes = []
    if not any(g.n for g in reference_groups):
        notes.append("the reference holds no decided record: nothing was tested against it")
    report = MonitorReport(reports, reference, reference_groups, request.alpha, request.psi_max, rules=len(rules))
    report.notes = notes
    if rules:
        report.alerts, report.notes = evaluate_rules(
            rules, windows, per_window_rows, ref_rows, reference_groups, reference, context,
            lambda w: _flips(runs, w), ref_window, notes,
        )  # fmt: skip
    return report


def store_alerts(store: AuditStore, alerts: list[AlertResult]) -> None:
    """Log every firing as an ``alert`` event with its row, all or none."""
    with store.transaction():
        for alert in alerts:
            store.alerts.append(alert)
