"""Derived tables are never trusted: the review index is checked against the evidence it is built from.

Editing the review index needs no key: a record hidden from the queue, marked accepted with no
sign-off behind it, or the index's mark moved past the end of the log (so a later critical
finding never enters the queue). ``verify`` recomputes every row from the evidence and names the
difference (``derived-index``, exit 1); the workspace checks the index when it first opens the
database, rebuilds it from the evidence and says so on the queue page.
"""

from __future__ import annotations

import pytest

from audit import Auditor
from audit.review.roles import Principal
from audit.store import AuditStore
from tests.conftest import run_cli_in_process as cli
from tests.forge import shell

pytestmark = pytest.mark.usefixtures("single_thread")
CLI = Principal("root", "admin", "cli")


@pytest.fixture
def indexed(tiny_loaded, tmp_path) -> tuple[Auditor, list[str]]:
    auditor = Auditor(db=tmp_path / "audit.db", model=tiny_loaded, operator="ops")
    ids = [auditor.generate(prompt=p, max_new_tokens=2).id for p in ("Approve loan 1?", "Approve loan 2?")]
    auditor.reviews.accounts.add(CLI, "rita", "reviewer", "correct horse battery")
    assert [r.record_id for r in auditor.reviews.queue(CLI).rows] == ids  # the index is built
    assert cli("verify", "--db", str(auditor.db_path)).returncode == 0
    return auditor, ids


def _fresh_workspace(auditor: Auditor) -> Auditor:
    return Auditor(db=auditor.db_path, model=auditor.loaded)  # a workspace process opening the database


@pytest.mark.parametrize(
    "statements, named",
    [
        (  # marked accepted with no sign-off behind it, and out of the queue
            [
                "UPDATE review_index SET review_state = 'accepted', reviewer = 'rita', rank = NULL, reasons = '[]' "
                "WHERE record_id = '{first}'",
                "DELETE FROM review_reasons WHERE record_seq = (SELECT seq FROM review_index WHERE record_id = '{first}')",
            ],
            "differs from the evidence in review_state, reviewer, rank, reasons",
        ),
        (["DELETE FROM review_index WHERE record_id = '{first}'"], "has no row for record {first}: it was hidden"),
    ],
)
def test_an_edited_review_index_is_named_by_verify_and_rebuilt_by_the_workspace(indexed, statements, named):
    auditor, ids = indexed
    shell(auditor.db_path, *(s.format(first=ids[0]) for s in statements))
    done = cli("verify", "--db", str(auditor.db_path))
    assert done.returncode == 1 and named.format(first=ids[0]) in done.stdout, done.stdout
    page = _fresh_workspace(auditor).reviews.queue(CLI)
    assert [r.record_id for r in page.rows] == ids  # the truth, from the evidence
    assert page.notice and "rebuilt from the verified evidence" in page.notice
    assert cli("verify", "--db", str(auditor.db_path)).returncode == 0


def test_a_frozen_mark_cannot_keep_a_later_finding_out_of_the_queue(indexed):
    auditor, ids = indexed
    shell(auditor.db_path, "UPDATE review_index_meta SET value = '1000000' WHERE key = 'event_seq'")
    done = cli("verify", "--db", str(auditor.db_path))
    assert done.returncode == 1 and "claims to include the log up to event 1000000" in done.stdout
    workspace = _fresh_workspace(auditor).reviews
    rita = workspace.session_user("rita")
    workspace.add_finding(rita, ids[1], "critical", "outcome", "the approval contradicts policy 7")
    page = workspace.queue(CLI)
    assert page.rows[0].record_id == ids[1] and page.rows[0].reasons[0][0] == "finding"
    with AuditStore.open(auditor.db_path) as store:
        assert int(store.review_index.meta("event_seq")) == store.events.count()
