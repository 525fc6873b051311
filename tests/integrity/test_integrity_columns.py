"""Every column of every evidence table is covered: a property test over the schema, and the one-encoding attacks.

A real database holds every kind of evidence (``tests/evidence_db.py``). The generator
(``tests/column_edits.py``) reads ``PRAGMA table_info`` of every evidence table and of ``blobs``
and edits one row's value of each column in turn, as an attacker with a SQLite shell would
(guards dropped, another valid-looking value of the same type); ``verify`` must fail and name
the table and the column, whether the column is inside the logged payload or declared derived
in :mod:`audit.store.coverage`. No list of columns is written here: a column added to a table
later is edited too.

The one-encoding attacks put a second reading into a stored JSON text (a duplicate key, NaN, a
lone surrogate, text that is not JSON): ``verify`` names table, column and row with exit 1, and
the readers (review queue, explanation choice, sealed-record look-up) never act on the value a
second parser would see.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from audit import Auditor
from audit.errors import UserError
from audit.integrity.canonical_check import StoredValueError, check_text, parse_strict
from audit.integrity.verify import verify_path
from audit.store import AuditStore
from audit.store.coverage import COVERAGE
from tests.conftest import run_cli_in_process
from tests.forge import backup, drop_guards
from tests.integrity.column_edits import apply, edits
from tests.integrity.evidence_db import build_everything

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def every(tiny_loaded, tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("every")
    built = build_everything(tiny_loaded, folder)
    result = verify_path(built["db"], folder / "every.pub.pem", require_signed=True)
    assert result.ok and result.key_pinned, result.problems
    return {**built, "pub": str(folder / "every.pub.pem")}


def _tables(db: str) -> list[str]:
    with AuditStore.open(db) as store:
        return [repository.table for repository in store.evidence.values()] + ["blobs"]


def _attacked(every: dict[str, str], tmp_path: Path, *statements: str, params: list | None = None) -> Path:
    target = tmp_path / "attacked.db"
    backup(Path(every["db"]), target)
    conn = sqlite3.connect(target)
    drop_guards(conn)
    for statement in statements:
        conn.execute(statement, params or [])
    conn.commit()
    conn.close()
    return target


def _verify(db: Path, every: dict[str, str]) -> tuple[int, str]:
    run = run_cli_in_process("verify", "--db", str(db), "--key", every["pub"])
    return run.returncode, (run.stdout + run.stderr).strip().splitlines()[0]


def test_every_column_of_every_evidence_table_is_covered(every, tmp_path):
    tables = _tables(every["db"])
    with sqlite3.connect(every["db"]) as conn:
        empty = [t for t in tables if not conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]]
    assert not empty, f"the database lacks evidence of these tables, so their columns are not attacked: {empty}"
    missed, edited = [], set()
    for edit in edits(Path(every["db"]), tables):
        target = tmp_path / f"{edit.table}-{edit.column}.db"
        backup(Path(every["db"]), target)
        assert apply(target, edit), f"the schema refused {edit}: the generator must pick an allowed value"
        edited.add(edit.table)
        result = verify_path(target, every["pub"])
        named = [p for p in result.problems if edit.table in p.what and edit.column in p.what]
        if result.ok or not named:
            missed.append(f"{edit}: {result.summary()[:200]}")
        target.unlink()
    assert edited == set(tables)
    assert not missed, "columns an attacker can edit unnoticed or unnamed:\n" + "\n".join(missed)


def test_coverage_names_only_columns_that_exist(every):
    with sqlite3.connect(every["db"]) as conn:
        for table, coverage in COVERAGE.items():
            columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            declared = set(coverage.json) | set(coverage.derived)
            assert declared <= columns, (table, declared - columns)
            assert not set(coverage.json) & set(coverage.derived), table


def _decision(every) -> str:
    with sqlite3.connect(every["db"]) as conn:
        return conn.execute("SELECT decision FROM generations WHERE id = ?", [every["decided"]]).fetchone()[0]


def test_a_duplicate_chosen_key_is_named_and_never_moves_the_record_out_of_the_adverse_queue(every, tmp_path):
    stored = _decision(every)
    assert json.loads(stored)["chosen"] == "DECLINE" and json.loads(stored)["favourable"] == "APPROVE"
    forged = '{"chosen":"APPROVE",' + stored[1:]  # SQLite's json_extract reads the first, Python's json the last
    db = _attacked(
        every, tmp_path, "UPDATE generations SET decision = ? WHERE id = ?", params=[forged, every["decided"]]
    )
    code, line = _verify(db, every)
    assert code == 1 and line.startswith("TAMPERED:"), line
    assert "table generations" in line and "column decision" in line and every["decided"] in line
    assert "'chosen' twice" in line
    # The queue reads the one reader: the record is not shown as APPROVE, it is first in the queue as unreadable.
    with AuditStore.open(db, write=True) as store:
        facts = {f.record_id: f for f in store.review_index.facts([every["decided"]])}
    decided = facts[every["decided"]]
    assert decided.decision is None and "twice" in (decided.unreadable or "")
    from audit.review.rules import evaluate

    entry = evaluate(decided)
    assert entry.rank == 5 and entry.reasons[0][0] == "unreadable"
    # Every reader refuses it with the fix, never a value: the record itself, the dossier.
    with pytest.raises(UserError, match="run `llm-audit verify`"):
        Auditor(db=db).get(every["decided"])


def test_a_duplicate_key_in_a_privacy_tag_is_named_and_stops_retention_and_erasure(every, tmp_path):
    tags = '{"privacy":{"sealed":false,"sealed":true,"retain_until":"2020-01-01"}}'
    db = _attacked(every, tmp_path, "UPDATE generations SET tags = ? WHERE id = ?", params=[tags, every["plain"]])
    code, line = _verify(db, every)
    assert code == 1 and "column tags" in line and "'sealed' twice" in line, line
    with AuditStore.open(db) as store, pytest.raises(StoredValueError, match="sealed' twice"):
        store.privacy.sealed()
    refused = run_cli_in_process("retention", "--db", str(db), "--apply")
    assert refused.returncode == 2 and "run `llm-audit verify`" in refused.stderr, refused.stderr


@pytest.mark.parametrize(
    "column, text, word",
    [
        ("decision", '{"chosen":NaN}', "NaN"),
        ("tags", '{"note":"\\ud800"}', "lone surrogate"),
        ("messages", "x", "is not JSON"),  # a NULL JSON column given non-JSON text: a named problem, no traceback
        ("environment", '{"cpu": "x"}', "canonical form"),
    ],
)
def test_a_second_spelling_of_a_stored_value_is_named(every, tmp_path, column, text, word):
    db = _attacked(
        every, tmp_path, f"UPDATE generations SET {column} = ? WHERE id = ?", params=[text, every["decided"]]
    )
    code, line = _verify(db, every)
    assert code == 1 and f"table generations row {every['decided']} column {column}" in line, line
    assert word in line


def test_a_duplicate_target_does_not_relabel_an_explanation(every, tmp_path):
    with sqlite3.connect(every["db"]) as conn:
        explanation_id, params = conn.execute(
            "SELECT id, params FROM explanations WHERE record_id = ?", [every["decided"]]
        ).fetchone()
    assert json.loads(params)["target"]["kind"] == "decision"
    forged = '{"target":"output",' + params[1:]
    db = _attacked(every, tmp_path, "UPDATE explanations SET params = ? WHERE id = ?", params=[forged, explanation_id])
    code, line = _verify(db, every)
    assert code == 1 and "table explanations" in line and "column params" in line and "'target' twice" in line
    with AuditStore.open(db) as store, pytest.raises(StoredValueError, match="'target' twice"):
        store.explanations.list(every["decided"], target="output")


def test_derived_columns_are_checked_against_their_source(every, tmp_path):
    with sqlite3.connect(every["db"]) as conn:
        counterfactual = conn.execute("SELECT id FROM counterfactuals").fetchone()[0]
        blob = conn.execute("SELECT sha256 FROM blobs").fetchone()[0]
    moved = _attacked(
        every, tmp_path, "UPDATE counterfactuals SET record_id = ?", params=[every["plain"]]
    )  # shown in the other record's dossier
    code, line = _verify(moved, every)
    assert code == 1 and f"table counterfactuals row {counterfactual} column record_id" in line, line
    model = _attacked(
        every, tmp_path, "UPDATE generations SET model_name = 'gpt-4o' WHERE id = ?", params=[every["decided"]]
    )
    code, line = _verify(model, every)
    assert code == 1 and "column model_name is 'gpt-4o'" in line, line
    dtype = _attacked(every, tmp_path, "UPDATE blobs SET dtype = 'float64' WHERE sha256 = ?", params=[blob])
    code, line = _verify(dtype, every)
    assert code == 1 and f"table blobs row {blob} column dtype is 'float64'" in line, line


@pytest.mark.parametrize(
    "text, reason",
    [
        ('{"a":1,"a":2}', "key 'a' twice"),
        ('{"a":"\\udc00"}', "lone surrogate"),
        ("{'a': 1}", "is not JSON"),
        ("", "is not JSON"),
    ],
)
def test_the_strict_reader_refuses_what_two_parsers_could_read_differently(text, reason):
    with pytest.raises(StoredValueError, match=reason):
        parse_strict(text)


@pytest.mark.parametrize(
    "value",
    [{"b": 1, "a": [1.5, -0.0, 1e21, "é\n\u2028"]}, [float("-inf"), 1.0], {"x": 2**60}, "plain", None, 3],
)
def test_the_writers_encoding_passes_and_every_other_spelling_fails(value):
    from audit.integrity.canonical_check import encode_json

    for encoding in ("jcs", "jcs-sorted", "plain", "sorted", "ascii", "ascii-sorted"):
        text = encode_json(value, encoding)
        parsed, problem = check_text(text, encoding)
        assert problem is None and parsed == value
        assert check_text(" " + text, encoding)[1] is not None  # whitespace
        if text.startswith("{"):
            first = next(iter(json.loads(text)))
            dup = '{"' + first + '":0,' + text[1:]
            assert "twice" in check_text(dup, encoding)[1]
