"""Every ``--json`` output, produced once on the tiny model: the shape name each must have, and the JSON.

Shared by the shape test and by whoever regenerates a shape (``python tests/cli/json_outputs.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from audit import Auditor

POLICY = Path(__file__).resolve().parents[2] / "examples" / "privacy" / "policy.toml"
TEMPLATE = "Income {income}, credit score {score}. Approve the loan?"
DECISION = {"labels": ["APPROVE", "DECLINE"], "favourable": "APPROVE"}
PASSWORD = "correct horse battery staple"


def suite(model: Path) -> str:
    return f"""
[suite]
name = "shapes"
model = "{model}"

[defaults.generation]
max_new_tokens = 3

[[case]]
name = "plain"
prompt = "Markets fell after the central bank"
method = "feature-ablation"
granularity = "token"
faithfulness = false
"""


def short_policy(folder: Path) -> Path:
    """The example policy with a class kept 0 days, so a sealed record can be erased at once."""
    text = POLICY.read_text().replace('[demo]\ncases = ["credit_decision_pii.toml"]', "")
    text += '\n[retention.classes.short]\nminimum = "0 days"\nuse_cases = ["general"]\n'
    path = folder / "policy.toml"
    path.write_text(text)
    return path


def produce(folder: Path, model: Path, loaded, run: Callable[..., object]) -> list[tuple[str, list[str], object]]:
    """(shape, command, parsed JSON) for every command and mode with ``--json``; ``run``: ``cli_fast``."""
    db = folder / "audit.db"
    auditor = Auditor(db=db, model=loaded)
    decided = [
        auditor.generate(
            template=TEMPLATE,
            variables={"income": "$42,000", "score": score},
            decision=DECISION,
            use_case="credit-decision",
            max_new_tokens=3,
        )
        for score in (580, 700)
    ]
    auditor.reviews.local_admin("ops").add("rita", "reviewer", PASSWORD)
    sealed_db = folder / "sealed.db"
    sealed = Auditor(db=sealed_db, model=loaded, policy=short_policy(folder)).generate(
        template="Customer {customer_id}, card {card}. Approve?",
        variables={"customer_id": "C-2", "card": "5555 5555 5555 4444"},
        max_new_tokens=3,
    )
    rid, m, d = decided[0].id, ["--model", str(model)], ["--db", str(db)]
    (folder / "suite.toml").write_text(suite(model))
    run("baseline", "create", "--suite", str(folder / "suite.toml"), "-o", str(folder / "baseline.json"))
    plan: list[tuple[str, list[str]]] = [
        ("record", ["generate", "--prompt", "Rate this bond.", "--max-new-tokens", "2", *d, *m]),
        ("record", ["show", rid, *d]),
        ("record-list", ["list", *d]),
        ("explanation", ["explain", rid, "--granularity", "field", *d, *m]),
        ("batch", ["explain", "--all", *d, *m]),
        ("attention", ["attention", rid, *d, *m]),
        ("counterfactual", ["counterfactual", rid, "--vary", "score=640,720", *d, *m]),
        ("fairness", ["fairness", "--swap", "score=580,700", *d, *m]),
        ("replay", ["replay", rid, *d, *m]),
        ("replay-batch", ["replay", "--all", *d, *m]),
        ("checkpoint", ["checkpoint", *d]),
        ("key", ["key", *d, "--public-key", str(folder / "audit.pub.pem")]),
        ("trust-list", ["trust", "list"]),
        ("verify", ["verify", *d]),
        ("report", ["report", rid, "-o", str(folder / "dossier.html"), *d]),
        ("sign-off", ["review", rid, "--accept", "--operator", "rita", *d]),
        ("user-list", ["users", "list", *d]),
        ("api-key-list", ["keys", "list", *d]),
        ("pending", ["append-pending", *d]),
        ("hold", ["hold", "--record", rid, "--reason", "matter 1", *d]),
        ("hold-list", ["hold", "--list", *d]),
        ("hold", ["release", "--record", rid, "--reason", "matter 1", *d]),
        ("retention", ["retention", "--all", "--db", str(sealed_db)]),
        ("erasure", ["erase", "--record", sealed.id, "--reason", "request 14", "--db", str(sealed_db)]),
        ("merge", ["merge", str(db), "-o", str(folder / "archive.db")]),
        ("rotate-key", ["rotate-key", *d]),
        ("check", ["check", "--suite", str(folder / "suite.toml"), "--baseline", str(folder / "baseline.json")]),
        ("monitor", ["monitor", "--since", decided[0].started_at[:10], *d]),
        ("pack-check", ["verify-pack", str(folder / "pack"), "--key", str(folder / "audit.pub.pem")]),
        ("pack-check-refused", ["verify-pack", str(folder / "no-pack")]),
        ("otel-export", ["otel-export", "--since", decided[0].started_at[:10], "--otlp-endpoint", "OTLP", *d]),
    ]
    produced = []
    for shape, args in plan:
        if args[0] == "verify":
            run("proof", rid, "-o", str(folder / "record.proof.json"), *d)
            plan_proof = ["verify-proof", str(folder / "record.proof.json"), "--key", str(folder / "audit.pub.pem")]
            produced.append(("proof-check", plan_proof, _json(run, plan_proof)))
        if args[0] == "merge":
            run("trust", "add", str(folder / "audit.pub.pem"))
        if args[0] == "verify-pack" and shape == "pack-check":
            run("export", *d, "-o", str(folder / "pack"))
        if args[0] == "otel-export":
            from tests.telemetry.otlp_receiver import Receiver

            with Receiver() as receiver:
                args = [receiver.url if a == "OTLP" else a for a in args]
                produced.append((shape, args, _json(run, args)))
            continue
        produced.append((shape, args, _json(run, args)))
    return produced


def _json(run: Callable[..., object], args: list[str]) -> object:
    done = run(*args, "--json")
    assert done.returncode in (0, 1, 2) and done.stdout, (args, done.stdout, done.stderr)  # type: ignore[attr-defined]
    return json.loads(done.stdout)  # type: ignore[attr-defined]


if __name__ == "__main__":  # print every output, to write or update a shape in audit/cli/shapes/
    import sys
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from audit.model import load_model
    from tests.conftest import build_tiny_model, run_cli_in_process

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = build_tiny_model(folder / "tiny")
        for shape, args, value in produce(folder, model, load_model(str(model), device="cpu"), run_cli_in_process):
            print(f"## {shape}: llm-audit {' '.join(args[:2])}\n{json.dumps(value, indent=2)[:4000]}\n")
