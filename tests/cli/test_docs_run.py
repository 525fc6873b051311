"""The docs stay true by running them: the README's quick start as a new user runs it, and the demo
page's stage list against the stages the demo declares."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from audit.demo import APPLICATIONS, STAGES
from audit.model.cache import cache_dir
from tests.test_docs import command_args, shown_commands

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DEMO_PAGE = REPO / "docs" / "demo.md"


def quick_start() -> list[tuple[str, int]]:
    """The quick start's commands in order, each with the exit code its comment promises (0 unless it says)."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index("## Quick start") + 1
    end = next(n for n in range(start, len(lines)) if lines[n].startswith("## "))
    found = []
    for number, line in shown_commands(README):
        if start < number <= end:
            comment = line.split("  # ", 1)[1] if "  # " in line else ""
            promised = re.match(r"exit (\d+)", comment)
            found.append((line, int(promised.group(1)) if promised else 0))
    return found


def test_the_quick_start_is_found() -> None:
    verbs = [command_args(line)[0] for line, _ in quick_start()]
    assert verbs == ["generate", "list", "explain", "counterfactual", "report", "verify"]
    assert [code for _, code in quick_start()][-1] == 0  # verify promises 0 on an intact log


@pytest.mark.integration
def test_the_readme_quick_start_runs_as_written(tmp_path: Path) -> None:
    """Each command exactly as the README shows it, in a fresh home directory (no keys, no trust file, no
    environment of ours), in an empty folder, with the embedded model; ID is what `list` printed last, as
    the README says. Only the converted model is shared (``LLM_AUDIT_CACHE``): converting it again would
    add about a minute and prove nothing about the README."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_AUDIT_", "XDG_"))}
    env.update(HOME=str(home), LLM_AUDIT_CACHE=str(cache_dir()), PYTHONPATH=str(REPO))
    record_id = None
    for line, promised in quick_start():
        args = command_args(line)
        if record_id is not None:
            args = [record_id if arg == "ID" else arg for arg in args]
        assert "ID" not in args, f"{line}: no id printed yet"
        done = subprocess.run(
            [sys.executable, "-m", "audit", *args], capture_output=True, text=True, cwd=work, env=env, timeout=600
        )
        assert done.returncode == promised, f"{shlex.join(args)}: exit {done.returncode}\n{done.stderr}"
        assert "Traceback" not in done.stderr
        if args[0] == "list":
            record_id = done.stdout.strip().splitlines()[-1].split()[1]  # the last row's id column
        if args[0] == "explain":
            assert "income" in done.stdout and "score" in done.stdout  # by template field, as promised
        if args[0] == "counterfactual":
            assert "score" in done.stdout
        if args[0] == "verify":
            assert done.stdout.startswith("OK: ")
    assert (work / "llm-audit.db").is_file() and (work / "dossier.html").is_file()
    assert record_id is not None and record_id in (work / "dossier.html").read_text(encoding="utf-8")
    assert not (home / ".config" / "llm-audit" / "trusted_keys").exists()  # nothing pinned behind the user's back


def stage_list() -> list[str]:
    """The bold stage names of docs/demo.md's numbered list, checking the numbers run 0, 1, 2, ..."""
    items = re.findall(r"^(\d+)\. (.*?)(?=^\d+\. |^\s*$)", DEMO_PAGE.read_text(encoding="utf-8"), re.M | re.S)
    assert [int(number) for number, _ in items] == list(range(len(items)))
    return [re.search(r"\*\*(\w+)\*\*", text).group(1) for _, text in items]  # type: ignore[union-attr]


def test_the_demo_page_lists_the_demo_stages() -> None:
    assert stage_list() == [name for name, _ in STAGES]
    page = DEMO_PAGE.read_text(encoding="utf-8")
    assert f"record {len(APPLICATIONS)} more credit applications" in page
