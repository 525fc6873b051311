"""The monitor's plain-text output: one block per window, then the changes against the reference, then alerts."""

from __future__ import annotations

from .run import MonitorReport
from .tally import GroupStats


def _pct(n: int, of: int) -> str:
    return f"{n / of:.0%}" if of else "—"


def group_line(g: GroupStats) -> str:
    if not g.n:
        return f"  {g.segment:<28} n 0"
    rates = ", ".join(f"{label} {_pct(k, g.n)}" for label, k in g.labels.items())
    parts = [
        f"n {g.n}",
        rates,
        f"label mass {g.mass_mean:.2g}" if g.mass_mean is not None else "",
        f"margin median {g.margin_median:.2f}" if g.margin_median is not None else "",
        f"override {_pct(g.overridden, g.reviewed)} of {g.reviewed} signed off" if g.reviewed else "",
        f"replay not identical {_pct(g.diverged, g.replayed)} of {g.replayed}" if g.replayed else "",
    ]
    parts += [f"flip rate ({name}) {_pct(int(f['flipped']), int(f['records']))}" for name, f in g.flips.items()]
    return f"  {g.segment:<28} " + "; ".join(p for p in parts if p)


def _adjusted(p: float | None) -> str:
    if p is None:
        return ""
    return " [adjusted p < 0.001]" if p < 0.001 else f" [adjusted p {p:.3f}]"


def report_text(report: MonitorReport, *, all_changes: bool = False) -> str:
    lines = []
    ref = report.reference
    against = f"baseline {ref['baseline']}" if "baseline" in ref else f"{ref['since'][:19]}Z to {ref['until'][:19]}Z"
    lines.append(f"Reference: {against}")
    for group in report.reference_groups:
        if group.segment == "all":
            lines.append(f"  {group.use_case}: n {group.n}")
    for w in report.windows:
        lines.append("")
        lines.append(f"Window {w.window.label}")
        case = None
        for g in w.groups:
            if g.use_case != case:
                case = g.use_case
                lines.append(f" {case}")
            lines.append(group_line(g))
        shown = [c for c in w.changes if c.significant or all_changes]
        tested = len(w.changes)
        lines.append(
            f" Changes against the reference ({len([c for c in w.changes if c.significant])} significant of {tested} "
            f"tested: Holm-adjusted p under {report.alpha:g}, and a PSI above {report.psi_max:g}):"
        )
        lines += [f"  {'*' if c.significant else ' '} {c.text}{_adjusted(c.p_adjusted)}" for c in shown] or ["   none"]
    for note in report.notes:
        lines.append(f"Note: {note}")
    if report.rules:
        lines.append("")
        lines.append(
            f"Alerts: {len(report.alerts)} of {report.rules} rules fired"
            if report.alerts
            else f"Alerts: none of {report.rules} rules fired"
        )
        lines += [f"  [{a.severity}] {a.text}" + (f" (stored {a.id[:8]})" if a.id else "") for a in report.alerts]
    return "\n".join(lines)
