"""``llm-audit replay``: reproduce recorded generations and print the verdicts.

Exit code 0 when every replay is ``identical`` with the record's own model, 1 otherwise
(drift, divergence, a changed decision, or a model mismatch that was allowed), 2 for a user error.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import click

from ..errors import UserError
from ..replay.compare import NEAR_TIE
from ..replay.result import VERDICTS, ReplayResult
from ..tolerances import REPLAY_TOLERANCE
from .app import db_option, echo_json, json_option, main, make_auditor, model_options
from .batch import batch_exit_code, executor_options, make_executor
from .options import record_filters


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.2e}"


def replay_detail(result: ReplayResult) -> str:
    lines = [f"record       {result.record_id}", f"verdict      {result.headline}"]
    lines.append(
        f"max |Δ log-prob| {_number(result.max_logprob_diff)} (tolerance {result.tolerance:g}), replay {result.seconds:.2f} s"
    )
    changed = [name for name, entry in result.model_match.items() if not entry["match"]]
    if result.extra.get("upstream"):
        lines.append(f"upstream     {result.extra['upstream']} (compared by {result.extra.get('compared_by')})")
        same = "same (model name and system_fingerprint: what an upstream says about itself)"
    else:
        same = "same (weights, config, tokenizer, chat template hashes)"
    lines.append(f"model        {same}" if not changed else f"model        differs: {', '.join(changed)}")
    decision = result.decision
    if decision is not None:
        recorded, replayed = decision["recorded_chosen"], decision["replayed_chosen"]
        p_rec, p_now = decision["recorded_probabilities"], decision["replayed_probabilities"]
        lines.append(
            f"decision     {'CHANGED ' if decision['changed'] else ''}recorded {recorded} (p {p_rec[recorded]:.3f}), "
            f"replayed {replayed} (p {p_now[replayed]:.3f}); max |Δ label log-prob| {_number(decision['max_logprob_diff'])}"
        )
    if result.first_divergence is not None:
        d = result.first_divergence
        near_tie = " (near-tie)" if d.recorded_margin is not None and d.recorded_margin < NEAR_TIE else ""
        lines.append(
            f"diverged at  step {d.step}: recorded {d.recorded_token!r} (id {d.recorded_token_id}), "
            f"replayed {d.replayed_token!r} (id {d.replayed_token_id}); recorded top-1/top-2 margin "
            f"{_number(d.recorded_margin)}{near_tie}"
        )
    if result.environment_diff:
        lines.append("environment  differs:")
        lines += [
            f"  {name}: {entry['recorded']!r} -> {entry['current']!r}"
            for name, entry in result.environment_diff.items()
        ]
    else:
        lines.append("environment  same")
    return "\n".join(lines)


def replay_table(results: list[ReplayResult]) -> str:
    lines = [
        f"{'record':36}  {'verdict':17}  {'max |Δ lp|':>10}  {'step':>4}  {'margin':>8}  {'decision':19}  {'secs':>6}  env changes"
    ]
    for r in results:
        d = r.first_divergence
        decided = r.decision
        decision = "-" if decided is None else f"{decided['recorded_chosen']} -> {decided['replayed_chosen']}"
        lines.append(
            f"{r.record_id:36}  {r.verdict + ('' if r.model_matches else '*'):17}  {_number(r.max_logprob_diff):>10}  "
            f"{(str(d.step) if d else '-'):>4}  {(_number(d.recorded_margin) if d else '-'):>8}  {decision:19}  "
            f"{r.seconds:>6.2f}  {', '.join(r.environment_diff) or '-'}"
        )
    counts = Counter(r.verdict for r in results)
    lines.append("")
    lines.append(
        "  ".join(f"{verdict}: {counts.get(verdict, 0)}" for verdict in VERDICTS) + f"  (total {len(results)})"
    )
    if any(not r.model_matches for r in results):
        lines.append("* replayed on a different model (--allow-model-mismatch)")
    return "\n".join(lines)


@main.command()
@click.argument("record_id", required=False)
@click.option("--all", "replay_all", is_flag=True, help="Replay every record (oldest first).")
@record_filters
@click.option(
    "--allow-model-mismatch", is_flag=True, help="Replay even if the model's hashes differ from the record's."
)
@click.option(
    "--tolerance",
    type=float,
    default=REPLAY_TOLERANCE,
    show_default=True,
    help="Largest per-token |Δ log-prob| still 'identical'.",
)
@click.option(
    "--upstream",
    default=None,
    metavar="URL",
    help="Re-send a proxied record to this OpenAI-compatible server and compare (key: $LLM_AUDIT_UPSTREAM_KEY).",
)
@executor_options
@db_option
@model_options
@json_option
def replay(
    record_id: str | None,
    replay_all: bool,
    use_case: str | None,
    since: str | None,
    until: str | None,
    allow_model_mismatch: bool,
    tolerance: float,
    upstream: str | None,
    executor: str,
    address: str | None,
    workers: int | None,
    cpus_per_worker: float,
    db: Path,
    model: str | None,
    device: str | None,
    dtype: str | None,
    as_json: bool,
) -> None:
    """Regenerate a record with its recorded inputs, configuration and seed; give a verdict.

    Verdicts: identical (same tokens, log-probs within --tolerance), logprob-drift (same
    tokens, log-probs moved), diverged (different tokens: first step and margin shown),
    decision-changed (a record's decision is now another label, whatever the text did).
    By default the record's own model is loaded; --model replays on another folder.
    Exit code 0 when all replays are identical on the record's model, 1 otherwise.

    \b
    Examples:
      llm-audit replay 01a2259f-3082-7a9f-ac04-d343f525d3c4
      llm-audit replay 01a2259f --json
      llm-audit replay --all --use-case credit-decision --since 2026-11-01
      llm-audit replay --all --executor ray --address auto
      llm-audit replay 01a2259f --upstream http://127.0.0.1:8001/v1
    """
    if replay_all == (record_id is not None):
        raise UserError(
            "pass either one RECORD_ID or --all: e.g. `llm-audit replay 01a2259f` or `llm-audit replay --all`"
        )
    if not replay_all and (use_case or since or until or executor != "in-process" or address or workers):
        raise UserError("--use-case, --since, --until, --executor, --address and --workers only apply with --all")
    if upstream is not None and (replay_all or model is not None):
        raise UserError("--upstream re-sends one proxied record: give one RECORD_ID, without --all or --model")
    auditor = make_auditor(db=db, device=device, dtype=dtype)
    options = {"model": model, "allow_model_mismatch": allow_model_mismatch, "tolerance": tolerance}
    if not replay_all:
        result = auditor.replay(record_id, upstream=upstream, **options)
        if as_json:
            echo_json(result.to_json_dict())
        else:
            click.echo(replay_detail(result))
        sys.exit(0 if result.verdict == "identical" and result.model_matches else 1)
    chosen = make_executor(auditor, executor, address, workers, cpus_per_worker)
    summary = auditor.replay_all(use_case=use_case, since=since, until=until, executor=chosen, progress=True, **options)
    results = auditor.replays(summary.stored_ids)
    counts = Counter(r.verdict for r in results)
    if as_json:
        echo_json(
            {
                "counts": {v: counts.get(v, 0) for v in VERDICTS},
                "replays": [r.to_json_dict() for r in results],
                "summary": summary.to_dict(),
            }
        )
    else:
        click.echo(replay_table(results))
        click.echo("")
        click.echo(summary.table())
    identical = all(r.verdict == "identical" and r.model_matches for r in results)
    sys.exit(batch_exit_code(summary) or (0 if identical else 1))
