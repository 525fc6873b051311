"""``llm-audit merge``: gather the databases of many serving hosts into one verified archive."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .app import echo_json, json_option, main, make_auditor


@main.command()
@click.argument("sources", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    "archive",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Archive database (created if missing; merging into it again adds only what is new).",
)
@click.option(
    "--host-name",
    "hosts",
    multiple=True,
    help="Name of the host each source comes from, once per source in the same order [the source file name].",
)
@json_option
def merge(sources: tuple[Path, ...], archive: Path, hosts: tuple[str, ...], as_json: bool) -> None:
    """Verify each source database, then copy its records, explanations and replays into ARCHIVE.

    A source that does not verify is refused (exit 1) before the archive is opened; records
    already in the archive are skipped. Each copied item gets a provenance row (host, source
    chain position, source root hash) logged in the archive's own hash chain.

    \b
    Example:
      llm-audit merge host-a.db host-b.db -o archive.db
      llm-audit merge /mnt/a/llm-audit.db /mnt/b/llm-audit.db --host-name pricing-1 --host-name pricing-2 -o archive.db
    """
    result = make_auditor(db=archive).merge(list(sources), hosts=list(hosts) or None)
    if as_json:
        echo_json(result.to_dict())
    else:
        click.echo(result.table())
    sys.exit(0 if result.archive_verified else 1)
