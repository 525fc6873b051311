"""The recorded model or nothing: explain refuses another model, and a folder that is no causal LM is refused.

An explanation claims to be about the recorded decision, so it runs on the record's model (by the
hashes of its files) or is refused in one line with exit 2 and nothing stored; with
``--allow-model-mismatch`` it is stored marked as computed on another model, and the dossier's
section headline says so. A model folder whose saved architecture is an encoder (BERT) or that holds
no tokenizer is refused before anything is stored: the database's bytes are unchanged.
"""

from __future__ import annotations

import html as entities
import re
import shutil
from pathlib import Path

import pytest
import torch

from audit import Auditor
from audit.report import IntegrityStatus, build_dossier, gather, render_dossiers
from audit.store import AuditStore
from tests.conftest import build_tiny_model, default_tokenizer

pytestmark = pytest.mark.usefixtures("single_thread")
CREDIT = dict(
    template="Income {income}, score {score}. Approve?",
    variables={"income": "$42,000", "score": "580"},
    use_case="credit-decision",
    max_new_tokens=3,
    decision={"labels": ["APPROVE", "DECLINE"], "favourable": "APPROVE"},
)


@pytest.fixture(scope="module")
def recorded(tiny_loaded, tmp_path_factory):
    folder = tmp_path_factory.mktemp("recorded-model")
    auditor = Auditor(db=folder / "a.db", model=tiny_loaded)
    record = auditor.generate(**CREDIT)
    with AuditStore.open(auditor.db_path) as store:
        store.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    other = build_tiny_model(folder / "other", seed=1)  # same architecture and tokenizer, other weights
    return auditor, record, other


def _unchanged(db: Path):
    before = db.read_bytes()
    return lambda: db.read_bytes() == before


def test_explain_on_another_model_is_refused_in_one_line(recorded, cli_fast):
    auditor, record, other = recorded
    same = _unchanged(auditor.db_path)
    done = cli_fast("explain", record.id, "--granularity", "field", "--db", str(auditor.db_path), "--model", str(other))
    assert done.returncode == 2
    line = done.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    assert f"explain of record {record.id} must run on the recorded model" in line
    assert "weights_sha256 differs in model.safetensors" in line and "--allow-model-mismatch" in line
    assert same()


def test_allowed_mismatch_is_stored_marked_and_the_dossier_says_so(recorded, cli_fast):
    auditor, record, other = recorded
    done = cli_fast(
        "explain",
        record.id,
        "--granularity",
        "field",
        "--allow-model-mismatch",
        "--db",
        str(auditor.db_path),
        "--model",
        str(other),
    )
    assert done.returncode == 0, done.stderr
    stored = auditor.explanations(record.id)[-1]
    assert "weights_sha256 differs in model.safetensors" in stored.extra["model_mismatch"]
    assert stored.extra["weights_sha256"] != record.model.weights_sha256
    with AuditStore.open(auditor.db_path) as store:
        evidence = gather(store, store.records.get(record.id))
    page = render_dossiers([build_dossier(evidence, "2026-03-04T12:00:00Z", IntegrityStatus("verified", "ok"))], "x")
    text = entities.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))
    section3 = text[text.index("3 Why") : text.index("4 What would have changed")]
    assert "Computed on another model: not evidence about the recorded decision" in section3
    assert "on ANOTHER model than the recorded one" in section3
    assert "Principal reasons for the adverse action" not in section3
    assert ": computed on the recorded model no: " in text  # the method section's check row


def _bert_folder(folder: Path) -> Path:
    from transformers import BertConfig, BertForMaskedLM

    tokenizer = default_tokenizer()
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64
    )
    torch.manual_seed(0)
    BertForMaskedLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _no_tokenizer_folder(folder: Path) -> Path:
    build_tiny_model(folder)
    for name in folder.iterdir():
        if "token" in name.name or name.name in ("vocab.json", "merges.txt", "special_tokens_map.json"):
            name.unlink() if name.is_file() else shutil.rmtree(name)
    return folder


@pytest.mark.parametrize(
    "build, message",
    [
        (_bert_folder, "is not a causal language model (its config names BertForMaskedLM, model type bert)"),
        (_no_tokenizer_folder, "has no tokenizer files"),
    ],
)
def test_a_folder_that_is_no_causal_lm_or_has_no_tokenizer_is_refused(recorded, cli_fast, tmp_path, build, message):
    auditor = recorded[0]
    folder = build(tmp_path / "model")
    same = _unchanged(auditor.db_path)
    done = cli_fast("generate", "--prompt", "Approve?", "--db", str(auditor.db_path), "--model", str(folder))
    assert done.returncode == 2
    line = done.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line and message in line, line
    assert same()
