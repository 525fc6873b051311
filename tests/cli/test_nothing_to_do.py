"""Nothing to do is success (exit 0, one plain line), not an error: a cron job or CI step runs these again
and again, and exit 2 would page someone for a database that is fine."""

from __future__ import annotations

import json

from tests.cli.json_outputs import short_policy


def test_nothing_pending_nothing_to_erase_nothing_to_explain(tiny_loaded, tiny_model_dir, tmp_path, cli_fast):
    from audit import Auditor

    db = tmp_path / "sealed.db"
    auditor = Auditor(db=db, model=tiny_loaded, policy=short_policy(tmp_path))
    record = auditor.generate(
        template="Customer {customer_id}, card {card}. Approve?",
        variables={"customer_id": "C-2", "card": "5555 5555 5555 4444"},
        max_new_tokens=3,
    )
    d = ["--db", str(db)]

    pending = cli_fast("append-pending", *d)
    assert (pending.returncode, pending.stdout) == (0, f"nothing pending for {db}: every result is stored\n")
    assert json.loads(cli_fast("append-pending", *d, "--json").stdout) == {"appended": []}

    first = cli_fast("erase", "--record", record.id, "--reason", "request 14", *d, "--json")
    assert first.returncode == 0 and json.loads(first.stdout)["erased"] == [record.id]
    again = cli_fast("erase", "--record", record.id, "--reason", "request 14", *d)
    assert (again.returncode, again.stdout) == (0, "nothing to erase: every record named is already erased\n")
    assert auditor.verify().ok  # and nothing was logged twice: the log still verifies

    plain = tmp_path / "plain.db"
    Auditor(db=plain, model=tiny_loaded).generate(prompt="Rate this bond.", max_new_tokens=3)
    args = ["explain", "--all", "--db", str(plain), "--model", str(tiny_model_dir), "--json"]
    assert cli_fast(*args).returncode == 0
    rerun = cli_fast(*args)
    summary = json.loads(rerun.stdout)
    assert rerun.returncode == 0 and (summary["already_done"], summary["todo"], summary["stored"]) == (1, 0, 0)

    typo = cli_fast(*args, "--use-case", "credit-decison")  # filters that match nothing are likely a typo: an error
    assert typo.returncode == 2 and typo.stderr.startswith("Error: no records")
