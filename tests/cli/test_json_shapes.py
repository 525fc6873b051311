"""Every ``--json`` output has the shape audit/cli/shapes declares, and docs/json.md shows exactly those shapes.

The outputs are produced on the tiny model by tests/cli/json_outputs.py (every command and mode with
``--json``); a command added with ``--json`` and no shape fails ``test_every_json_command_is_produced``.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import jsonschema
import pytest

from audit.cli import main
from audit.cli.shapes import BY_NAME, SHAPES, page_section, validate
from tests.cli.json_outputs import produce

DOC = Path(__file__).resolve().parents[2] / "docs" / "json.md"


@pytest.fixture(scope="module")
def outputs(tiny_model_dir, tiny_loaded, tmp_path_factory):
    from tests.conftest import run_cli_in_process

    return produce(tmp_path_factory.mktemp("json"), tiny_model_dir, tiny_loaded, run_cli_in_process)


def json_commands(group: click.Group = main, path: tuple[str, ...] = ()) -> set[str]:
    found = set()
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found |= json_commands(command, (*path, name))
        elif any(param.name == "as_json" for param in command.params):
            found.add(" ".join((*path, name)))
    return found


def test_every_output_has_its_shape(outputs) -> None:
    for shape, args, value in outputs:
        assert isinstance(value, dict), args  # one JSON object per command, never a bare list
        validate(value, BY_NAME[shape])


def test_the_shapes_catch_a_change(outputs) -> None:
    """A renamed, missing or retyped field fails the check (top level closed, types checked)."""
    shape, _, value = next(o for o in outputs if o[0] == "record-list")
    for changed in (
        {**value, "extra": 1},
        {"rows": value["records"]},
        {"records": [{**value["records"][0], "seq": "1"}]},
        {"records": [{k: v for k, v in value["records"][0].items() if k != "id"}]},
    ):
        with pytest.raises(jsonschema.ValidationError):
            validate(changed, BY_NAME[shape])


def command_path(words: list[str]) -> str:
    """The command a list of words runs (``["trust", "list", ...]`` -> ``trust list``)."""
    command, path = main, []
    for word in words:
        if not isinstance(command, click.Group) or word not in command.commands:
            break
        command, path = command.commands[word], [*path, word]
    return " ".join(path)


def test_every_json_command_is_produced(outputs) -> None:
    commands = json_commands()
    assert {command_path(args) for _, args, _ in outputs} == commands
    assert {command_path(c.split()) for shape in SHAPES for c in shape.commands} == commands
    assert {shape for shape, _, _ in outputs} == set(BY_NAME)  # every shape is exercised


def test_docs_json_page_is_the_shapes() -> None:
    text = DOC.read_text(encoding="utf-8")
    for shape in SHAPES:
        assert page_section(shape) in text, f"docs/json.md: section {shape.name} differs from audit/cli/shapes"
    headings = re.findall(r"^## (\S+)$", text, flags=re.MULTILINE)
    assert headings == [shape.name for shape in SHAPES]
