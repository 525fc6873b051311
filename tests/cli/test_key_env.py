"""One environment name per key meaning: $LLM_AUDIT_SIGNING_KEY signs, $LLM_AUDIT_TRUSTED_KEY pins.

The deprecated $LLM_AUDIT_KEY meant both; it is read as a pin only when it holds a public key, and
a private key there (a signing key) never pins verification to itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

PRIVATE_NOT_PIN = "holds a private key (a signing key), so it is not read as the pinned key"


@pytest.fixture
def signed(tmp_path: Path, cli_fast, monkeypatch) -> tuple[Path, Path, Path, str]:
    """A log with one checkpoint, its private key (moved out of the key directory) and public key.

    Then verified as a validator elsewhere would: the first checkpoint pinned the log in the operator's
    trust file; the validator's trust file is empty, so only the environment can pin."""
    db, key, public = tmp_path / "audit.db", tmp_path / "signing.key", tmp_path / "signing.pub.pem"
    made = cli_fast("checkpoint", "--db", str(db), "--signing-key", str(key), "--json")
    assert made.returncode == 0, made.stderr
    shown = cli_fast("key", "--db", str(db), "--signing-key", str(key), "--public-key", str(public), "--json")
    monkeypatch.setenv("LLM_AUDIT_TRUST_FILE", str(tmp_path / "validator" / "trusted_keys"))
    return db, key, public, json.loads(shown.stdout)["key_id"]


def verify(cli_fast, db: Path) -> tuple[dict, str]:
    done = cli_fast("verify", "--db", str(db), "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done.stderr


def test_trusted_key_pins(signed, cli_fast, monkeypatch) -> None:
    db, _, public, key_id = signed
    unpinned, _ = verify(cli_fast, db)
    assert unpinned["key_pinned"] is False
    monkeypatch.setenv("LLM_AUDIT_TRUSTED_KEY", str(public))
    pinned, warnings = verify(cli_fast, db)
    assert (pinned["key_pinned"], pinned["key_id"], warnings) == (True, key_id, "")


def test_old_name_pins_only_a_public_key(signed, cli_fast, monkeypatch) -> None:
    db, key, public, key_id = signed
    monkeypatch.setenv("LLM_AUDIT_KEY", str(key))  # a shell set up to sign
    result, warnings = verify(cli_fast, db)
    assert result["key_pinned"] is False and PRIVATE_NOT_PIN in warnings
    monkeypatch.setenv("LLM_AUDIT_KEY", str(public))
    result, warnings = verify(cli_fast, db)
    assert result["key_pinned"] is True and "rename it $LLM_AUDIT_TRUSTED_KEY" in warnings


def test_old_name_still_signs_with_a_warning(signed, cli_fast, monkeypatch) -> None:
    db, key, _, key_id = signed
    monkeypatch.setenv("LLM_AUDIT_KEY", str(key))
    made = cli_fast("checkpoint", "--db", str(db), "--json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["key_id"] == key_id and "rename it $LLM_AUDIT_SIGNING_KEY" in made.stderr
    monkeypatch.delenv("LLM_AUDIT_KEY")
    monkeypatch.setenv("LLM_AUDIT_SIGNING_KEY", str(key))
    again = cli_fast("checkpoint", "--db", str(db), "--json")
    assert json.loads(again.stdout)["key_id"] == key_id and again.stderr == ""


def test_every_pinning_option_reads_the_names_alike(signed, monkeypatch) -> None:
    """Generated over the commands whose --key pins (verify, ui): parsed only, nothing started."""
    import warnings

    from audit.cli import main
    from audit.cli.options import TRUSTED_KEY_ENV, KeyEnvironmentWarning

    _, key, public, _ = signed
    pinning = {
        name: param
        for name, command in main.commands.items()
        for param in command.params
        if param.envvar == TRUSTED_KEY_ENV
    }
    assert sorted(pinning) == ["ui", "verify"]
    for name, param in pinning.items():
        for env, expected, warned in (
            ({TRUSTED_KEY_ENV: str(public)}, public, False),
            ({"LLM_AUDIT_KEY": str(public)}, public, True),
            ({"LLM_AUDIT_KEY": str(key)}, None, True),
        ):
            for variable in (TRUSTED_KEY_ENV, "LLM_AUDIT_KEY"):
                monkeypatch.delenv(variable, raising=False)
            for variable, value in env.items():
                monkeypatch.setenv(variable, value)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                ctx = main.commands[name].make_context(name, [])
            given = ctx.params[param.name]
            got = (given[0] if given else None) if param.multiple else given
            assert (got, any(w.category is KeyEnvironmentWarning for w in caught)) == (expected, warned), (name, env)
