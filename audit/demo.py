"""The main job, end to end on the example cases: pin the key, record, explain, attention, replay,
counterfactuals and protected-attribute reliance of the credit decision, report, verify.

Each stage is a function ``(auditor, cases, result, say) -> None`` in :data:`STAGES`, run in
order through the :class:`~audit.Auditor` as a user's code would; ``say`` prints progress for
a person. The demo sits above the façade, beside the CLI.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .auditor import Auditor
from .decision.outcome import describe_decision
from .examples import ExampleCase
from .progress import bar
from .record import GenerationRecord

Say = Callable[[str], None]


@dataclass
class DemoResult:
    records: list[GenerationRecord] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)  # stage -> path or summary line


def record_stage(auditor: Auditor, cases: list[ExampleCase], result: DemoResult, say: Say) -> None:
    _ = auditor.loaded  # load (and on first use convert) the model before the progress bar starts
    for case in bar(cases, desc="recording", unit="case"):
        result.records.append(auditor.generate(**case.generate_kwargs()))
    for case, record in zip(cases, result.records):
        text = " ".join(record.output_text.split())
        say(f"  {record.id}  {case.name:30}  {record.output_tokens:>3} tokens  {text[:70]}")
        if record.decision is not None:
            say(f"  {'':36}  {'':30}  decision {describe_decision(record.decision)}")


def trust_stage(auditor: Auditor, cases: list[ExampleCase], result: DemoResult, say: Say) -> None:
    """Pin the demo database's signing key before anything is signed, as a validator would.

    The key is made in the key directory (``~/.config/llm-audit/keys/``, or ``$XDG_CONFIG_HOME``), its
    public half written beside the database (``<db>.pub.pem``, public: safe there), and that public
    key added to the trust file, so the dossiers and the final verify are checked against a pinned key.
    """
    info = auditor.signing.info(create=True)
    public = auditor.signing.write_public(auditor.db_path.with_name(auditor.db_path.name + ".pub.pem"))
    entry, added = auditor.signing.trust_add(public, f"llm-audit demo ({auditor.db_path.resolve()})")
    state = "added to" if added else "already in"
    say(f"  signing key {info.key_id} in {info.path}; public key {public}, {state} {auditor.signing.trust.path}")
    result.outputs["trust"] = f"key {entry.key_id} pinned in {auditor.signing.trust.path}"


def verify_stage(auditor: Auditor, cases: list[ExampleCase], result: DemoResult, say: Say) -> None:
    """Seal what the demo recorded with a signed checkpoint, then verify the whole log against the pinned key."""
    made = auditor.checkpoint()
    say(f"  checkpoint {made.id}: {made.tree_size} events, root {made.root_hash[:16]}…, key {made.key_id}")
    verified = auditor.verify(require_signed=True)
    say(f"  {verified.summary()}")
    result.outputs["verify"] = verified.summary()


def attention_stage(auditor: Auditor, cases: list[ExampleCase], result: DemoResult, say: Say) -> None:
    """Attention maps, rollout and head importance for every demo record, stored (no per-head maps)."""
    total = 0
    for record in bar(result.records, desc="attention", unit="record"):
        attention = auditor.attention(record.id)
        total += attention.stored_bytes or 0
        layer, head, value = attention.top_heads(1)[0]
        say(
            f"  {record.id}  {len(attention.tokens):>4} tokens  {attention.stored_bytes:>10,} bytes stored  "
            f"top head L{layer}.H{head} ({value:+.2f})  log-prob diff {attention.logprob_max_diff:.1e}  {attention.seconds:.1f} s"
        )
    result.outputs["attention"] = f"{len(result.records)} attention analyses stored, {total:,} bytes"


def explain_stage(auditor: Auditor, cases: list[ExampleCase], result: DemoResult, say: Say) -> None:
    """Feature ablation of every record, by field where it has a template, by token otherwise: of the decision
    where a record has one (an adverse one against the favourable label, which gives adverse-action reasons),
    of the text otherwise."""
    explained = []
    for record in bar(result.records, desc="explaining", unit="record"):
        granularity = "field" if record.prompt_kind == "template" and record.template else "token"
        decision = record.decision
        contrast = {"contrast": decision.favourable} if decision is not None and decision.adverse else {}
        explained.append(auditor.explain(record.id, method="feature-ablation", granularity=granularity, **contrast))
    for case, attr in zip(cases, explained):
        order = sorted(range(len(attr.features)), key=lambda j: -abs(float(attr.seq_attr[j])))[:3]
        top = ", ".join(
            f"{attr.features[j].strip() or repr(attr.features[j])} {float(attr.seq_attr[j]):+.2f}" for j in order
        )
        target = attr.target
        what = f"{target.label} vs {target.contrast}" if target.kind == "decision" else "text"
        say(f"  {attr.record_id}  {case.name:30}  {attr.granularity:5}  {what:18}  {attr.seconds:5.1f} s  top: {top}")
        record = next(r for r in result.records if r.id == attr.record_id)
        line = reasons_line(record, attr)
        if line:
            say(f"  {'':36}  {'':30}  {line}")
    decided = sum(a.target.kind == "decision" for a in explained)
    result.outputs["explain"] = (
        f"{len(explained)} feature-ablation explanations stored ({decided} of decisions, {len(explained) - decided} of texts)"
    )


def reasons_line(record: GenerationRecord, attr) -> str | None:
    """Whether an adverse decision's explanation may be worded as principal reasons (the dossier's reasons gate,
    before any counterfactual run), with the failed checks named."""
    from .report.reasons_gate import reasons_gate

    d = record.decision
    if d is None or not d.adverse or attr.target.kind != "decision" or attr.target.contrast != d.favourable:
        return None
    gate = reasons_gate(record, attr)
    if gate.passed:
        return "principal reasons: given (every check of the reasons gate passes)"
    return f"principal reasons: NONE can be given (failed: {', '.join(c.name.lower() for c in gate.failed)})"


def replay_stage(auditor: Auditor, cases: list[ExampleCase], result: DemoResult, say: Say) -> None:
    """Every record the demo just made must replay ``identical``."""
    replays = auditor.replay_many([record.id for record in result.records], progress=True)
    for case, replayed in zip(cases, replays):
        say(
            f"  {replayed.record_id}  {case.name:30}  {replayed.headline:13}  "
            f"max |Δ lp| {replayed.max_logprob_diff or 0:.1e}  {replayed.seconds:.2f} s"
        )
    identical = sum(r.verdict == "identical" and r.model_matches for r in replays)
    summary = f"{identical}/{len(replays)} records replay identical"
    if identical != len(replays):
        summary += " - NOT all: run `llm-audit replay ID` to see the first divergence"
    result.outputs["replay"] = summary


# A handful of further credit applications (the credit example with these fields changed), so the
# fairness run has more than one record; short answers, since only the decision is re-scored.
APPLICATIONS = [
    {"applicant_name": "Emily Walsh", "age": "27", "marital_status": "single", "credit_score": "690"},
    {"applicant_name": "James Miller", "age": "45", "marital_status": "married", "income": "$68,000"},
    {"applicant_name": "Ngozi Okafor", "age": "52", "marital_status": "divorced", "monthly_debt": "$900"},
    {"applicant_name": "Omar Khalil", "age": "38", "marital_status": "married", "credit_score": "720"},
    {"applicant_name": "Lucia Hernandez", "age": "63", "marital_status": "widowed", "income": "$51,000"},
    {"applicant_name": "Robert Hughes", "age": "31", "marital_status": "single", "amount": "$12,000"},
]


def _counterfactual_case(cases: list[ExampleCase], result: DemoResult) -> tuple[ExampleCase, GenerationRecord] | None:
    """The first decided case whose example lists [counterfactuals] and [fairness] swaps (the credit decision; the
    covenant test lists counterfactuals only, and the fairness stage's applications are credit applications)."""
    import tomllib

    for case, record in zip(cases, result.records):
        tables = tomllib.loads(case.path.read_text(encoding="utf-8"))
        if record.decision is not None and "counterfactuals" in tables and "fairness" in tables:
            return case, record
    return None


def counterfactual_stage(auditor: Auditor, cases: list[ExampleCase], result: DemoResult, say: Say) -> None:
    """What would have changed the credit decision: the example's [counterfactuals], re-scored."""
    from .fairness.table import counterfactual_table

    found = _counterfactual_case(cases, result)
    if found is None:
        say("  no decided example lists [counterfactuals]: skipped")
        return
    case, record = found
    made = auditor.counterfactual(record.id, example=case.path)
    for line in counterfactual_table(made).splitlines():
        say(f"  {line}")
    result.outputs["counterfactual"] = f"{len(made.flips)} of {len(made.alternatives)} alternatives flip the decision"


def fairness_stage(auditor: Auditor, cases: list[ExampleCase], result: DemoResult, say: Say) -> None:
    """Record a few more credit applications, then substitute the example's [fairness] swaps into all of them."""
    from .fairness.table import fairness_table

    found = _counterfactual_case(cases, result)
    if found is None:
        return
    case, record = found
    base = case.generate_kwargs()
    for changes in bar(APPLICATIONS, desc="applications", unit="record"):
        variables = {**base["variables"], **changes}
        auditor.generate(**{**base, "variables": variables, "max_new_tokens": 8, "tags": {"demo": "fairness"}})
    report = auditor.fairness(
        example=case.path, use_case=case.use_case, since=result.records[0].started_at, progress=True
    )
    for line in fairness_table(report).splitlines():
        say(f"  {line}")
    worst = max(report.attributes, key=lambda a: a.flip_rate)
    result.outputs["fairness"] = (
        f"{report.records} credit decisions; highest flip rate {worst.field} {worst.flip_rate:.0%} "
        f"({worst.flip_interval[0]:.0%}-{worst.flip_interval[1]:.0%})"
    )


def report_stage(auditor: Auditor, cases: list[ExampleCase], result: DemoResult, say: Say) -> None:
    """A dossier per demo record and a summary of this run, in ``out/`` (git-ignored)."""
    from pathlib import Path

    out = Path("out")
    out.mkdir(exist_ok=True)
    dossiers = [auditor.report([record.id], out / f"dossier-{record.id}.html") for record in result.records]
    summary = auditor.report(None, out / "summary.html", since=result.records[0].started_at)
    for report in dossiers:
        say(f"  dossier {report.path} ({report.size_bytes / 1024:.0f} KiB, {report.seconds:.2f} s)")
    say(f"  summary {summary.path} ({summary.size_bytes / 1024:.0f} KiB, {len(summary.record_ids)} records)")
    result.outputs["report"] = f"{dossiers[0].path.resolve()} and {summary.path.resolve()}"


def monitor_stage(auditor: Auditor, cases: list[ExampleCase], result: DemoResult, say: Say) -> None:
    """The demo's decisions as `llm-audit monitor` shows them: one window, since the demo's first record."""
    from .monitor.text import report_text

    decided = [r for r in result.records if r.decision is not None]
    if not decided:
        say("  no decided record: skipped")
        return
    report = auditor.monitor(window="1d", since=result.records[0].started_at)
    for line in report_text(report).splitlines():
        say(f"  {line}")
    groups = report.windows[-1].groups
    result.outputs["monitor"] = (
        f"{sum(g.n for g in groups)} decisions in {len(groups)} use cases; alert rules: "
        "llm-audit monitor --rules examples/monitoring/rules.toml"
    )


STAGES: list[tuple[str, Callable[[Auditor, list[ExampleCase], DemoResult, Say], None]]] = [
    ("trust", trust_stage),
    ("record", record_stage),
    ("explain", explain_stage),
    ("attention", attention_stage),
    ("replay", replay_stage),
    ("counterfactual", counterfactual_stage),
    ("fairness", fairness_stage),
    ("report", report_stage),
    ("verify", verify_stage),
    ("monitor", monitor_stage),
]


def run_demo(auditor: Auditor, cases: list[ExampleCase], say: Say) -> DemoResult:
    result = DemoResult()
    for name, stage in STAGES:
        say(f"[{name}]")
        started = time.perf_counter()
        stage(auditor, cases, result, say)
        result.seconds[name] = time.perf_counter() - started
    return result
