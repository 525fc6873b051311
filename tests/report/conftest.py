"""Fixtures of the report tests: the dossier case, recorded once per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def report_case(tiny_loaded, tiny_model_dir, tmp_path_factory):
    """A database with a credit record (every dossier section filled) and a plain one: see report_evidence."""
    from tests.report_evidence import build_report_case

    return build_report_case(tiny_loaded, tiny_model_dir, tmp_path_factory)
