"""Every command that takes an id: an ambiguous prefix is named as ambiguous with its candidates (exit 2),
and an id in upper case finds its record. Generated over the command tree, so a new command that
takes a record id is covered (or fails here until it is added to ``EXTRA``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import click
import pytest

from audit.cli import main
from audit.ids import uuid7

PASSWORD = "correct horse battery staple"
SAME_MS = 1_790_000_000_000  # both records minted in this millisecond: their ids share 13 characters
ID_PARAMS = {"record_id", "record_ids"}


def commands_taking_ids(group: click.Group = main, path: tuple[str, ...] = ()) -> dict[str, click.Parameter]:
    found = {}
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found.update(commands_taking_ids(command, (*path, name)))
            continue
        for param in command.params:
            if param.name in ID_PARAMS:
                found[" ".join((*path, name))] = param
    return found


def EXTRA(tmp: Path, model: Path) -> dict[str, list[str]]:
    """What else each command needs to run on one record (the model ones stop at the stand-in loader)."""
    return {
        "show": [],
        "report": ["-o", str(tmp / "dossier.html")],
        "review": ["--accept", "--operator", "rita"],
        "proof": ["-o", str(tmp / "record.proof.json")],
        "hold": ["--reason", "matter 2026-1"],
        "release": ["--reason", "matter 2026-1"],
        "erase": ["--reason", "request 2026-014"],
        "explain": ["--model", str(model)],
        "counterfactual": ["--vary", "score=720", "--model", str(model)],
        "attention": ["--model", str(model)],
        "replay": ["--model", str(model)],
    }


def as_given(command: str, param: click.Parameter, value: str) -> list[str]:
    return [*command.split(), *(["--record", value] if isinstance(param, click.Option) else [value])]


class ModelLoaded(BaseException):
    """The stand-in loader: reaching it means the id was found and every check before the model passed."""


@pytest.fixture(scope="module")
def twins(tiny_loaded, tmp_path_factory) -> tuple[Path, list[str]]:
    from audit import Auditor

    db = tmp_path_factory.mktemp("ids") / "audit.db"
    auditor = Auditor(db=db, model=tiny_loaded)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("audit.recording.local.uuid7", lambda unix_ms=None: uuid7(SAME_MS))
        ids = [
            auditor.generate(
                template="Income {income}, credit score {score}. Approve the loan?",
                variables={"income": "$42,000", "score": score},
                decision={"labels": ["APPROVE", "DECLINE"], "favourable": "APPROVE"},
                use_case="credit-decision",
                max_new_tokens=3,
            ).id
            for score in (580, 640)
        ]
    auditor.reviews.local_admin("ops").add("rita", "reviewer", PASSWORD)
    auditor.checkpoint()  # so `proof` has a signed checkpoint to prove against
    return db, ids


@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise ModelLoaded(args)

    monkeypatch.setattr("audit.model.loader._load_model", refuse)


def test_every_command_taking_an_id_is_listed(tmp_path: Path) -> None:
    assert sorted(commands_taking_ids()) == sorted(EXTRA(tmp_path, tmp_path))


def test_an_ambiguous_prefix_is_named_with_its_candidates(twins, tmp_path, tiny_model_dir, no_model, cli_fast):
    db, ids = twins
    prefix = ids[0][:13]
    assert ids[1][:13] == prefix and ids[0] != ids[1]
    before = db.read_bytes()
    for command, param in commands_taking_ids().items():
        extra = EXTRA(tmp_path, tiny_model_dir)[command]
        for given in (prefix, prefix.upper()):
            done = cli_fast(*as_given(command, param, given), *extra, "--db", str(db))
            assert done.returncode == 2, (command, done.stdout, done.stderr)
            assert done.stderr == (
                f"Error: id prefix {given!r} is ambiguous: it starts 2 record ids ({ids[0]}, {ids[1]}): "
                "give more characters\n"
            ), command
    assert db.read_bytes() == before


def _after(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_an_id_in_upper_case_finds_its_record(twins, tmp_path, tiny_model_dir, no_model, cli_fast):
    """Each command reaches what it does on the record (or the loader): never "no record"."""
    import shutil

    source, ids = twins
    db = tmp_path / "audit.db"
    shutil.copy(source, db)
    upper = ids[0].upper()
    outcomes = {}
    for command, param in commands_taking_ids().items():
        extra = EXTRA(tmp_path, tiny_model_dir)[command]
        try:
            done = cli_fast(*as_given(command, param, upper), *extra, "--db", str(db))
        except ModelLoaded:
            outcomes[command] = "model"
            continue
        assert "no record" not in done.stderr and "ambiguous" not in done.stderr, (command, done.stderr)
        outcomes[command] = (done.returncode, done.stderr.strip())
    assert outcomes.pop("explain") == outcomes.pop("counterfactual") == "model"
    assert outcomes.pop("attention") == outcomes.pop("replay") == "model"
    assert outcomes.pop("erase") == (
        2,
        f"Error: record {ids[0]} is not sealed (recorded without a policy): there is no key to destroy",
    )
    assert {command: code for command, (code, _) in outcomes.items()} == {
        "show": 0,
        "report": 0,
        "review": 0,
        "proof": 0,
        "hold": 0,
        "release": 0,
    }
    assert _after(db, "SELECT record_id FROM reviews") == [(ids[0],)]  # stored under the id as recorded
    assert (tmp_path / "record.proof.json").is_file() and ids[0] in (tmp_path / "dossier.html").read_text()
    shown = cli_fast("show", upper, "--db", str(db), "--json")
    assert shown.returncode == 0 and f'"id": "{ids[0]}"' in shown.stdout
