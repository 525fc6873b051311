"""The manual stays true to the code: links resolve, and every command it shows parses.

``mkdocs build --strict`` checks links between pages of ``docs/``; these tests also cover
README.md (which MkDocs does not build) and check, without running anything, that each
``llm-audit ...`` line in a code block names a real command with real options, by parsing it
with the click command line itself. A command that gains options keeps parsing; a renamed or
removed option fails here with the file and line that show it.
"""

from __future__ import annotations

import functools
import re
import shlex
import subprocess
import sys
import unicodedata
import warnings
from pathlib import Path

import click
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

# Code blocks whose lines are shell commands; in `console` blocks only lines starting with "$ " are.
SHELL_BLOCKS = {"", "bash", "sh", "shell", "console"}
SHELL_OPERATORS = {"|", "||", "&", "&&", ";", ">", ">>", "<", "2>", "2>&1"}
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
CODE_SPAN = re.compile(r"(`+).+?\1")
FENCE = re.compile(r"^\s*(```+|~~~+)\s*([\w+-]*)")
# Variables the commands read as defaults; the parse must not depend on the caller's environment.
ENV_VARS = (
    "LLM_AUDIT_DB",
    "LLM_AUDIT_KEY",
    "LLM_AUDIT_SIGNING_KEY",
    "LLM_AUDIT_TRUSTED_KEY",
    "LLM_AUDIT_KEY_STORE",
    "LLM_AUDIT_KEYS",
    "LLM_AUDIT_POLICY",
    "LLM_AUDIT_OPERATOR",
)


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def split_blocks(path: Path) -> tuple[list[tuple[int, str]], list[tuple[str, list[tuple[int, str]]]]]:
    """(numbered lines outside code blocks, [(info string, numbered lines) per fenced block])."""
    prose: list[tuple[int, str]] = []
    blocks: list[tuple[str, list[tuple[int, str]]]] = []
    fence: str | None = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)
            blocks.append((match.group(2).lower(), []))
        elif fence is not None and line.strip().startswith(fence[0] * 3) and not line.strip().strip(fence[0]):
            fence = None
        elif fence is not None:
            blocks[-1][1].append((number, line))
        else:
            prose.append((number, line))
    return prose, blocks


def slugify(heading: str) -> str:
    """MkDocs' anchor for a heading (Python-Markdown's toc slugify on the rendered text):
    inline markup removed, ASCII only, punctuation dropped, lowercase, runs of spaces and
    hyphens to one hyphen."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = text.replace("`", "").replace("*", "")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


@functools.cache
def anchors(path: Path) -> frozenset[str]:
    """Every heading anchor of a Markdown file; a repeated heading gets _1, _2... as in MkDocs."""
    prose, _ = split_blocks(path)
    seen: dict[str, int] = {}
    found = set()
    for _, line in prose:
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        slug = slugify(match.group(1))
        if slug in seen:
            seen[slug] += 1
            slug = f"{slug}_{seen[slug]}"
        else:
            seen[slug] = 0
        found.add(slug)
    return frozenset(found)


def link_problem(source: Path, target: str) -> str | None:
    if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith("//"):
        return None  # an absolute URL: not checked here (the docs must work offline, and have none)
    path_part, _, anchor = target.partition("#")
    destination = (source.parent / path_part).resolve() if path_part else source
    if not destination.exists():
        return f"{target}: {relative(destination) if destination.is_relative_to(ROOT) else destination} does not exist"
    if anchor and destination.suffix == ".md" and anchor not in anchors(destination):
        return f"{target}: no heading with anchor #{anchor} in {relative(destination)}"
    return None


def test_every_relative_link_points_to_an_existing_file_and_heading():
    problems = []
    checked = 0
    for path in markdown_files():
        prose, _ = split_blocks(path)
        for number, line in prose:
            for target in LINK.findall(CODE_SPAN.sub("", line)):
                checked += 1
                problem = link_problem(path, target)
                if problem:
                    problems.append(f"{relative(path)}:{number}: {problem}")
    assert checked > 30, f"only {checked} links found: is the link pattern still right?"
    assert not problems, "broken links:\n" + "\n".join(problems)


def shown_commands(path: Path) -> list[tuple[int, str]]:
    """Every `llm-audit ...` command line in the file's shell code blocks: continuation lines
    joined, a leading "$ " prompt removed; output lines, comments and other programs skipped."""
    _, blocks = split_blocks(path)
    commands = []
    for info, lines in blocks:
        if info not in SHELL_BLOCKS:
            continue
        pending: tuple[int, str] | None = None
        for number, raw in lines:
            line = raw.strip()
            if pending is not None:
                start, text = pending
                line = f"{text} {line}"
                number = start
                pending = None
            elif info == "console":
                if not line.startswith("$ "):
                    continue  # output
            if line.startswith("$ "):
                line = line[2:].lstrip()
            if line.endswith("\\"):
                pending = (number, line[:-1].rstrip())
                continue
            if line.startswith("llm-audit ") or line == "llm-audit":
                commands.append((number, line))
    return commands


def command_args(line: str) -> list[str]:
    """The arguments after `llm-audit`, up to the first shell operator (pipe, redirection...)."""
    words = shlex.split(line, comments=True)
    args = []
    for word in words[1:]:
        if word in SHELL_OPERATORS or word.startswith((">", "|")):
            break
        args.append(word)
    return args


def remaining_args(ctx: click.Context) -> list[str]:
    """What a group left for its subcommand (click 8.2 deprecates the name, not the value)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return [*getattr(ctx, "protected_args", []), *ctx.args]


def parse_command_line(args: list[str]) -> str:
    """Parse ``llm-audit ARGS`` as click would, down to the leaf command, without invoking it.

    Returns the command path (e.g. ``llm-audit baseline create``); raises click's own error
    (no such command or option, missing or bad value) otherwise.
    """
    from audit.cli import main

    contexts = [main.make_context("llm-audit", list(args), resilient_parsing=False)]
    command: click.Command = main
    try:
        while isinstance(command, click.Group):
            rest = remaining_args(contexts[-1])
            if not rest:
                raise click.UsageError(f"`{contexts[-1].command_path}` needs a subcommand")
            name, command, rest = command.resolve_command(contexts[-1], rest)
            contexts.append(command.make_context(name, rest, parent=contexts[-1]))
        return contexts[-1].command_path
    finally:
        for ctx in reversed(contexts):
            ctx.close()


@pytest.fixture
def neutral_environment(monkeypatch):
    """Run from the repository root with no llm-audit variables set; restore both afterwards
    (the --key-store option writes $LLM_AUDIT_KEY_STORE while it is parsed)."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(ROOT)


def test_every_shown_llm_audit_command_parses(neutral_environment):
    failures = []
    parsed: set[str] = set()
    count = 0
    for path in markdown_files():
        for number, line in shown_commands(path):
            count += 1
            where = f"{relative(path)}:{number}: {line}"
            try:
                parsed.add(parse_command_line(command_args(line)))
            except click.exceptions.Exit:
                failures.append(f"{where}\n    an option that exits (--help, --version) is not a command to show")
            except click.ClickException as exc:
                failures.append(f"{where}\n    {type(exc).__name__}: {exc.format_message()}")
            except ValueError as exc:  # shlex: unbalanced quotes
                failures.append(f"{where}\n    cannot split as a shell line: {exc}")
    assert count > 50, f"only {count} llm-audit command lines found: is the code-block parser still right?"
    assert not failures, f"{len(failures)} of {count} command lines in the docs do not parse:\n" + "\n".join(failures)


def test_the_cli_reference_shows_every_command(neutral_environment):
    """docs/cli.md has a section and a parsing example for each command (and subcommand)."""
    from audit.cli import main

    def leaves(group: click.Group, prefix: str) -> list[str]:
        found = []
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                found += leaves(command, f"{prefix} {name}")
            else:
                found.append(f"{prefix} {name}".strip())
        return found

    reference = DOCS / "cli.md"
    prose, _ = split_blocks(reference)
    headings = {line.lstrip("#").strip() for _, line in prose if line.startswith("### ")}
    examples = {parse_command_line(command_args(line)) for _, line in shown_commands(reference)}
    missing = [name for name in leaves(main, "") if name not in headings or f"llm-audit {name}" not in examples]
    assert not missing, f"docs/cli.md lacks a '### name' section with an example for: {', '.join(missing)}"


def test_the_docs_parsers_see_through_shell_syntax(tmp_path):
    """The helpers above: continuation lines, prompts, output, comments, pipes, quotes; anchors."""
    text = (
        "```console\n$ llm-audit list --json | head\noutput line\n```\n"
        "```bash\nllm-audit generate --var income='$42,000' \\\n  --json > rec.json  # comment\n"
        "ID=$(llm-audit list)\ntime llm-audit verify\n```\n"
    )
    sample = tmp_path / "sample.md"
    sample.write_text(text, encoding="utf-8")
    commands = shown_commands(sample)
    assert [number for number, _ in commands] == [2, 6]
    assert command_args(commands[0][1]) == ["list", "--json"]
    assert command_args(commands[1][1]) == ["generate", "--var", "income=$42,000", "--json"]
    assert slugify("Keys: decisions") == "keys-decisions"
    assert slugify("The policy (`examples/privacy/policy.toml`)") == "the-policy-examplesprivacypolicytoml"
    assert slugify("Threat model, plainly") == "threat-model-plainly"


def test_importing_the_cli_does_not_import_torch():
    """The docs tests (and `llm-audit --help`, `list`, `verify`) parse commands without a model."""
    code = "import sys, audit.cli; sys.exit(1 if 'torch' in sys.modules else 0)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"`import audit.cli` imported torch{': ' + result.stderr if result.stderr else ''}"
