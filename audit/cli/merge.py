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
@click.option(
    "--allow-unsigned",
    is_flag=True,
    help="Also merge sources (and events) no checkpoint of a trusted key covers; recorded in the provenance.",
)
@click.option(
    "--trust-file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="LLM_AUDIT_TRUST_FILE",
    default=None,
    help="Trust file holding the hosts' public keys (env LLM_AUDIT_TRUST_FILE) [~/.config/llm-audit/trusted_keys].",
)
@click.option(
    "--max-blob-mb",
    type=click.IntRange(min=1),
    default=512,
    show_default=True,
    help="Refuse a source with a blob larger than this, stored or expanded.",
)
@json_option
def merge(
    sources: tuple[Path, ...],
    archive: Path,
    hosts: tuple[str, ...],
    allow_unsigned: bool,
    trust_file: Path | None,
    max_blob_mb: int,
    as_json: bool,
) -> None:
    """Check each source database, then copy its records, explanations and replays into ARCHIVE.

    A source is refused (exit 1), before the archive is opened, when it does not verify, when
    no checkpoint signed by a trusted key covers it (unless --allow-unsigned), when an id is
    not a UUIDv7 or a blob is over the limit; one written by a newer llm-audit is refused with
    exit 2. Only events up to the last trusted checkpoint are merged; records already in the
    archive are skipped. Each copied item gets a provenance row (host, source chain position,
    source root hash, what vouched for it) logged in the archive's own hash chain.

    \b
    Example:
      llm-audit trust add pricing-1.pub.pem && llm-audit trust add pricing-2.pub.pem
      llm-audit merge host-a.db host-b.db -o archive.db
      llm-audit merge /mnt/a/llm-audit.db /mnt/b/llm-audit.db --host-name pricing-1 --host-name pricing-2 -o archive.db
    """
    result = make_auditor(db=archive).merge(
        list(sources),
        hosts=list(hosts) or None,
        allow_unsigned=allow_unsigned,
        trust_file=trust_file,
        max_blob_bytes=max_blob_mb << 20,
    )
    if as_json:
        echo_json(result.to_dict())
    else:
        click.echo(result.table())
    sys.exit(0 if result.archive_verified else 1)
