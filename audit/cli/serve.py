"""``llm-audit serve``, ``llm-audit proxy`` and ``llm-audit keys``: record production traffic.

``serve`` answers the OpenAI API from a local model, ``proxy`` forwards it to another
OpenAI-compatible server; both record every completion and need an API key per client
(``keys add`` prints one once). The servers live in :mod:`audit.serve`; the keys are the
Auditor's (:attr:`audit.Auditor.api_keys`).
"""

from __future__ import annotations

from pathlib import Path

import click

from .app import db_option, echo_json, json_option, key_store_option, main, make_auditor, model_options
from .options import policy_option


def _listen_options(func):
    func = click.option(
        "--otlp-content",
        is_flag=True,
        help="With --otlp-endpoint: include prompts and completions (never under a privacy policy).",
    )(func)
    func = click.option(
        "--otlp-endpoint",
        default=None,
        metavar="URL",
        help="Send a span per record (GenAI conventions) to this OTLP/HTTP endpoint, e.g. http://127.0.0.1:4318.",
    )(func)
    func = click.option(
        "--queue-size",
        type=click.IntRange(1, 10_000),
        default=32,
        show_default=True,
        help="Requests that may wait; beyond it clients get 429 with Retry-After.",
    )(func)
    func = click.option(
        "--use-case", default="general", show_default=True, help="Use case of requests that do not name one."
    )(func)
    func = click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)(func)
    func = click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")(func)
    return func


@main.command()
@click.option("--served-model-name", default=None, help="The model name clients send [the model's own name].")
@_listen_options
@policy_option
@key_store_option
@db_option
@model_options
def serve(
    served_model_name: str | None,
    host: str,
    port: int,
    use_case: str,
    queue_size: int,
    otlp_endpoint: str | None,
    otlp_content: bool,
    policy: Path | None,
    key_store: Path | None,
    db: Path,
    model: str | None,
    device: str | None,
    dtype: str | None,
) -> None:
    """Serve the OpenAI API (chat and text completions) from a local model, recording every completion.

    Clients send `Authorization: Bearer KEY` (from `llm-audit keys add`); the key's name is the
    operator of their records. Endpoints: /v1/chat/completions, /v1/completions, /v1/models,
    /healthz, /metrics. See docs/serving.md.

    \b
    Example:
      llm-audit keys add loan-app
      llm-audit serve --db llm-audit.db --port 8000
    """
    from ..serve import check_keys, server_app
    from ..serve.http import uvicorn_options
    from ..web.background import run

    auditor = make_auditor(db=db, model=model, device=device, dtype=dtype, policy=policy, key_store=key_store)
    check_keys(auditor)
    app = server_app(
        auditor, model_name=served_model_name, queue_size=queue_size, use_case=use_case,
        otlp_endpoint=otlp_endpoint, otlp_content=otlp_content,
    )  # fmt: skip
    click.echo(f"serving {auditor.loaded.identity.name} on http://{host}:{port}/v1, recording to {db}", err=True)
    run(app, host, port, **uvicorn_options())


@main.command()
@click.option("--upstream", required=True, help="Base URL of the OpenAI-compatible server, e.g. http://gpu-1:8000/v1.")
@click.option(
    "--upstream-key",
    envvar="LLM_AUDIT_UPSTREAM_KEY",
    default=None,
    help="API key the proxy sends upstream (env LLM_AUDIT_UPSTREAM_KEY).",
)
@click.option(
    "--model-path",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of the weights the upstream serves: records get their hashes, so they replay and explain offline.",
)
@click.option("--timeout", type=float, default=600.0, show_default=True, help="Seconds to wait for the upstream.")
@_listen_options
@policy_option
@key_store_option
@db_option
def proxy(
    upstream: str,
    upstream_key: str | None,
    model_path: Path | None,
    timeout: float,
    host: str,
    port: int,
    use_case: str,
    queue_size: int,
    otlp_endpoint: str | None,
    otlp_content: bool,
    policy: Path | None,
    key_store: Path | None,
    db: Path,
) -> None:
    """Put the OpenAI API in front of vLLM, TGI, llama.cpp or any compatible server, recording what passes.

    Each request is forwarded with log-probabilities (top 5) asked for, and recorded with the
    upstream's answer, model name and system_fingerprint; --model-path adds the served weights'
    hashes. `llm-audit replay ID --upstream URL` re-sends a proxied record. See docs/serving.md.

    \b
    Example:
      llm-audit proxy --upstream http://127.0.0.1:8001/v1 --db llm-audit.db --port 8000
    """
    from ..serve import check_keys, proxy_app
    from ..serve.http import uvicorn_options
    from ..web.background import run

    auditor = make_auditor(db=db, policy=policy, key_store=key_store)
    check_keys(auditor)
    app = proxy_app(
        auditor, upstream, upstream_key=upstream_key, model_path=model_path, timeout=timeout,
        queue_size=queue_size, use_case=use_case, otlp_endpoint=otlp_endpoint, otlp_content=otlp_content,
    )  # fmt: skip
    click.echo(f"proxying {upstream} on http://{host}:{port}/v1, recording to {db}", err=True)
    run(app, host, port, **uvicorn_options())


@main.group()
def keys() -> None:
    """API keys of `serve` and `proxy`: stored hashed; adding and revoking are logged events."""


@keys.command("add")
@click.argument("name")
@db_option
def keys_add(name: str, db: Path) -> None:
    """Issue a key for NAME and print it once (only its hash is stored); NAME becomes the operator of its records.

    \b
    Example:
      KEY=$(llm-audit keys add loan-app)
    """
    key = make_auditor(db=db).api_keys.add(name)
    click.echo(key)
    click.echo(f"key for {name!r} added to {db}: it is shown only now, keep it in your secret store", err=True)


@keys.command("revoke")
@click.argument("name")
@click.option("--reason", default=None, help="Why (logged with the revocation).")
@db_option
def keys_revoke(name: str, reason: str | None, db: Path) -> None:
    """Revoke NAME's key: its next request gets 401. Its records stay as they are.

    \b
    Example:
      llm-audit keys revoke loan-app --reason "laptop lost"
    """
    row = make_auditor(db=db).api_keys.revoke(name, reason)
    click.echo(f"revoked the key of {name!r} ({row.key_prefix}…) at {row.at}")


@keys.command("list")
@db_option
@json_option
def keys_list(db: Path, as_json: bool) -> None:
    """Every key name with its state (never the key itself, only its first characters).

    \b
    Example:
      llm-audit keys list --json
    """
    found = make_auditor(db=db).api_keys.list()
    if as_json:
        echo_json({"keys": [vars(info) for info in found]})
        return
    if not found:
        click.echo("no API keys: add one with `llm-audit keys add NAME`")
        return
    click.echo(f"{'name':24}  {'status':8}  {'key':12}  {'added':20}  revoked")
    for info in found:
        click.echo(
            f"{info.name:24}  {info.status:8}  {(info.key_prefix or '') + '…':12}  {info.added_at[:19]:20}  "
            f"{(info.revoked_at or '-')[:19]}"
        )
