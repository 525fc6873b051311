"""Fixtures of the batch tests (in-process and Ray): one database of a module's cases, recorded once."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.model import LoadedModel


@pytest.fixture(scope="module")
def cases_db(
    request: pytest.FixtureRequest, tiny_loaded: LoadedModel, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A database holding the test module's ``CASES`` (``generate`` keyword lists), 3 tokens each.

    Recorded once per module; tests take a private copy through ``cases_db_copy``.
    """
    from audit import Auditor

    db = tmp_path_factory.mktemp("cases") / "source.db"
    auditor = Auditor(db=db, model=tiny_loaded)
    for case in request.module.CASES:
        auditor.generate(**case, max_new_tokens=3, use_case="credit-decision")
    return db


@pytest.fixture
def cases_db_copy(cases_db: Path, tmp_path: Path) -> Path:
    import shutil

    copy = tmp_path / "audit.db"
    shutil.copy(cases_db, copy)
    return copy
