"""The reproducibility section (``reproducibility.html.j2``): model identity, generation settings, environment, replay."""

from __future__ import annotations

from dataclasses import dataclass

from ...replay.result import ReplayResult
from ..evidence import Evidence
from .values import Rows, value_text


@dataclass
class ReplayView:
    verdict: str
    headline: str
    rows: Rows
    model_rows: list[tuple[str, str, str, str]]  # (field, recorded, current, match)
    environment_rows: list[tuple[str, str, str]]


@dataclass
class Reproducibility:
    identity: Rows
    generation: Rows
    environment: Rows
    replay: ReplayView | None
    replay_missing: str | None
    command: str


def _replay(result: ReplayResult) -> ReplayView:
    headline = {
        "identical": "Replay reproduced the recorded output token for token.",
        "logprob-drift": "Replay produced the same tokens, but the log-probabilities drifted beyond tolerance.",
        "diverged": "Replay produced a DIFFERENT output.",
        "decision-changed": "Replay reached a DIFFERENT DECISION from the recorded one.",
    }.get(result.verdict, f"Replay verdict: {result.verdict}")
    rows: Rows = [("Verdict", result.verdict), ("Replayed at", result.created_at or "—")]
    decided = result.decision
    if decided is not None:
        recorded, replayed = decided["recorded_chosen"], decided["replayed_chosen"]
        rows.append(
            (
                "Decision",
                f"recorded {recorded} (p {decided['recorded_probabilities'][recorded]:.3f}), replayed {replayed} "
                f"(p {decided['replayed_probabilities'][replayed]:.3f}); largest label log-probability difference "
                f"{decided['max_logprob_diff']:.2e}",
            )
        )
    if result.max_logprob_diff is not None:
        rows.append(("Largest log-probability difference", f"{result.max_logprob_diff:.2e}"))
    d = result.first_divergence
    if d is not None:
        margin = f", recorded top-1 vs top-2 margin {d.recorded_margin:.3f}" if d.recorded_margin is not None else ""
        rows.append(
            (
                "First divergence",
                f"step {d.step + 1}: recorded {d.recorded_token!r}, replayed {d.replayed_token!r}{margin}",
            )
        )
    if result.allow_model_mismatch:
        rows.append(("Model mismatch allowed", "yes: the replay ran on a model that differs from the recorded one"))
    model_rows = [
        (k, value_text(v.get("recorded")), value_text(v.get("current")), "yes" if v.get("match") else "NO")
        for k, v in sorted(result.model_match.items())
        if isinstance(v, dict)
    ]
    env_rows = [
        (k, value_text(v.get("recorded")), value_text(v.get("current")))
        for k, v in sorted(result.environment_diff.items())
        if isinstance(v, dict)
    ]
    return ReplayView(result.verdict, headline, rows, model_rows, env_rows)


def reproducibility_section(evidence: Evidence) -> Reproducibility:
    record = evidence.record
    m = record.model
    identity: Rows = [
        ("Name", m.name),
        ("Source", m.source),
        ("Architecture", f"{m.architecture} ({m.model_type})"),
        ("Parameters", f"{m.parameter_count:,}"),
        ("Revision", value_text(m.revision)),
        ("Context length", value_text(m.context_length)),
    ]
    identity += [(f"Weights SHA-256 ({name})", digest) for name, digest in sorted(m.weights_sha256.items())]
    identity.append(("Config SHA-256", m.config_sha256))
    identity += [(f"Tokenizer SHA-256 ({name})", digest) for name, digest in sorted(m.tokenizer_sha256.items())]
    identity.append(("Chat template SHA-256", value_text(m.chat_template_sha256)))
    generation: Rows = [("Seed", str(record.seed))] + [
        (k, value_text(v)) for k, v in sorted(record.generation_config.items())
    ]
    generation.append(("Special tokens added", "yes" if record.add_special_tokens else "no"))
    e = record.environment
    environment: Rows = [
        ("Python", e.python),
        ("Platform", e.platform),
        ("Machine", e.machine),
        ("CPU", e.cpu),
        ("Device", f"{e.device} ({e.device_name})"),
        ("dtype", e.dtype),
        ("Threads", str(e.threads)),
    ]
    environment += [(name, value_text(version)) for name, version in sorted(e.packages.items())]
    environment += [(f"determinism: {k}", value_text(v)) for k, v in sorted(e.determinism.items())]
    replay = _replay(evidence.replay) if evidence.replay is not None else None
    missing = None if replay else f"This record has not been replayed. Run: llm-audit replay {record.id}"
    return Reproducibility(identity, generation, environment, replay, missing, f"llm-audit replay {record.id}")
