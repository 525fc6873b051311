"""The counterfactual and protected-attribute results as plain-text tables (the CLI's and the demo's output)."""

from __future__ import annotations

from ..counterfactual.result import CounterfactualResult
from .result import FairnessResult


def _words(name: str) -> str:
    return name.replace("_", " ")


def counterfactual_table(result: CounterfactualResult) -> str:
    favourable = result.favourable
    recorded = result.recorded_chosen
    others = ", ".join(f"{label} {p:.3f}" for label, p in result.recorded_probabilities.items() if label != recorded)
    lines = [
        f"record    {result.record_id}",
        f"decision  {recorded} (p {result.recorded_probabilities[recorded]:.3f}; {others}), scored on {result.model['name']}",
        f"re-scored {len(result.alternatives)} alternatives in {result.seconds:.2f} s; the recorded prompt gives the "
        f"recorded label log-probabilities within {result.logprob_max_diff:.1e}",
        "",
    ]
    width = max([len(" + ".join(a.changes)) for a in result.alternatives] + [5])
    values = max([len(" + ".join(a.changes.values())) for a in result.alternatives] + [5])
    lines.append(f"{'field':{width}}  {'value':{values}}  {'decision':10}  {'p(' + favourable + ')':>14}  flips")
    for a in result.alternatives:
        lines.append(
            f"{' + '.join(a.changes):{width}}  {' + '.join(a.changes.values()):{values}}  {a.chosen:10}  "
            f"{a.probabilities[favourable]:>14.3f}  {'yes' if a.flips else ''}"
        )
    lines += ["", "Smallest change that flips the decision, per field (values tried in the order given):"]
    for name, index in result.smallest_flip.items():
        if index is None:
            tried = ", ".join(result.fields[name])
            lines.append(f"  {_words(name)}: no value tried changes the decision ({tried})")
        else:
            lines.append(f"  {_words(name)}: {result.sentence(index)}")
    if result.pairs:
        flipped = [a for a in result.flips if len(a.changes) == 2]
        lines.append(f"  pairs: {len(flipped)} of {sum(len(a.changes) == 2 for a in result.alternatives)} flip it")
    return "\n".join(lines)


def fairness_table(result: FairnessResult) -> str:
    scope = f"use case {result.use_case}" if result.use_case else "all records"
    lines = [
        f"{scope}: {result.records} records scored, {len(result.skipped)} skipped; scored on {result.model['name']} "
        f"in {result.seconds:.1f} s (recorded prompts reproduce their decisions within {result.logprob_max_diff:.1e})",
        "",
    ]
    width = max([len(a.field) for a in result.attributes] + [9])
    lines.append(
        f"{'attribute':{width}}  {'records':>7}  {'flipped':>7}  {'flip rate':>9}  {'95% interval':>13}  "
        f"{'largest gap':>11}  {'between':24}  {'p (sign test)':>13}"
    )
    for a in result.attributes:
        between = f"{a.gap_groups[0]} / {a.gap_groups[1]}" if a.gap else "-"
        lines.append(
            f"{a.field:{width}}  {a.records:>7}  {a.flipped:>7}  {a.flip_rate:>9.1%}  "
            f"{a.flip_interval[0]:>5.1%}-{a.flip_interval[1]:<7.1%}  {a.gap:>11.3f}  {between[:24]:24}  "
            f"{a.test['p_value']:>13.3f}"
        )
    lines += ["", "Per group (favourable rate: share of substitutions scored favourable, averaged over records):"]
    for a in result.attributes:
        for g in a.groups:
            lines.append(
                f"  {a.field:{width}}  {g.name[:28]:28}  {len(g.values):>2} value(s)  favourable rate "
                f"{g.favourable_rate:.3f}  mean p(favourable) {g.mean_favourable_probability:.3f}"
            )
    flips = [(a, f) for a in result.attributes for f in a.flips]
    lines += ["", f"Records whose decision flipped ({len(flips)}):" if flips else "No record's decision flipped."]
    for a, f in flips[:50]:
        first = f.substitutions[0]
        more = f" (+{len(f.substitutions) - 1} more)" if len(f.substitutions) > 1 else ""
        lines.append(
            f"  {a.field:{width}}  {f.record_id}  {f.recorded} -> {first.chosen} with {first.value!r} ({first.group}){more}"
        )
    if len(flips) > 50:
        lines.append(f"  ... {len(flips) - 50} more: see --json")
    for warning in result.warnings:
        lines.append(f"note: {warning}")
    return "\n".join(lines)
