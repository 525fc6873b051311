"""``llm-audit generate``: record one generation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..errors import UserError
from .app import (
    db_option,
    echo_json,
    json_option,
    key_store_option,
    main,
    make_auditor,
    model_options,
    parse_json_arg,
    read_text_file,
)
from .format import record_summary
from .options import generation_options, generation_params, policy_option


def _read(value: str | None, path: Path | None, what: str) -> str | None:
    if value is not None and path is not None:
        raise UserError(f"give the {what} as text or as a file, not both")
    if path is not None:
        return read_text_file(path, f"{what} file")
    return value


def _variables(pairs: tuple[str, ...], as_json: str | None) -> dict[str, Any] | None:
    variables: dict[str, Any] = {}
    if as_json is not None:
        loaded = parse_json_arg(as_json, "--vars")
        if not isinstance(loaded, dict):
            raise UserError('--vars must be a JSON object, e.g. {"income": "$42,000"}')
        variables.update(loaded)
    for pair in pairs:
        if "=" not in pair:
            raise UserError(f"--var {pair!r} is not NAME=VALUE: write e.g. --var income='$42,000'")
        name, value = pair.split("=", 1)
        variables[name.strip()] = value
    return variables or None


def _decision(
    labels: str | None,
    favourable: str | None,
    mode: str | None,
    reasons: tuple[str, ...],
    protected: str | None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    extra = {k: v for k, v in (extra or {}).items() if v is not None}
    if labels is None:
        if favourable is not None or mode is not None or reasons or protected or extra:
            raise UserError(
                "--favourable, --decision-mode, --decision-reason, --protected, --min-label-mass and --frame need "
                "--decision-labels, e.g. APPROVE,DECLINE"
            )
        return None
    mapping = {}
    for pair in reasons:
        if "=" not in pair:
            raise UserError(
                f"--decision-reason {pair!r} is not FIELD=REASON: write e.g. "
                "--decision-reason monthly_debt='Excessive obligations in relation to income'"
            )
        name, reason = pair.split("=", 1)
        mapping[name.strip()] = reason
    fields = [name.strip() for name in protected.split(",") if name.strip()] if protected else None
    return {
        "labels": labels,
        "favourable": favourable,
        "mode": mode,
        "reasons": mapping or None,
        "protected": fields,
        **extra,
    }


@main.command()
@click.option("--prompt", help="Text, tokenised exactly as given (no chat template).")
@click.option(
    "--prompt-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read the prompt text from a file.",
)
@click.option("--template", help="A format-string template with {fields}.")
@click.option(
    "--template-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read the template from a file.",
)
@click.option("--var", "var_pairs", multiple=True, metavar="NAME=VALUE", help="A template variable (repeatable).")
@click.option("--vars", "vars_json", metavar="JSON|@FILE", help="Template variables as a JSON object.")
@click.option("--messages", metavar="JSON|@FILE", help="Chat messages as JSON; the chat template is applied.")
@click.option("--system", help="System message: wraps a template in the chat template.")
@click.option(
    "--chat/--no-chat", default=None, help="Force the chat template on/off for a template [on with --system]."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed applied immediately before generation.")
@click.option(
    "--use-case",
    default="general",
    show_default=True,
    help="credit-decision, risk-assessment, news-summary, legal-analysis, or free text.",
)
@click.option("--operator", default=None, help="Who ran this [$LLM_AUDIT_OPERATOR or the login name].")
@generation_options
@click.option(
    "--decision-labels",
    default=None,
    metavar="A,B[,C]",
    help="Score a decision among these labels at the start of the answer (e.g. APPROVE,DECLINE).",
)
@click.option("--favourable", default=None, help="With --decision-labels: the label favourable to the applicant.")
@click.option(
    "--decision-mode",
    type=click.Choice(["free", "constrained"]),
    default=None,
    help="free: generate the text as usual and record whether it states the decision [default]; "
    "constrained: start the answer with the chosen label.",
)
@click.option(
    "--decision-reason",
    "decision_reasons",
    multiple=True,
    metavar="FIELD=REASON",
    help="The adverse-action reason a notice gives for a template field (repeatable).",
)
@click.option(
    "--protected",
    default=None,
    metavar="FIELD[,FIELD]",
    help="Template fields holding a protected attribute (a prohibited basis: never an adverse-action reason).",
)
@click.option(
    "--min-label-mass",
    type=float,
    default=None,
    help="With --decision-labels: the least share of the model's probability the labels must hold for the "
    "decision to count as one the model made [0.5].",
)
@click.option(
    "--frame",
    type=click.Choice(["consumer-credit", "commercial-credit", "insurance", "eu-ai-act", "none"]),
    default=None,
    help="With --decision-labels: the regulatory frame of the report's wording [from the use case].",
)
@policy_option
@key_store_option
@db_option
@model_options
@json_option
def generate(
    prompt: str | None,
    prompt_file: Path | None,
    template: str | None,
    template_file: Path | None,
    var_pairs: tuple[str, ...],
    vars_json: str | None,
    messages: str | None,
    system: str | None,
    chat: bool | None,
    seed: int,
    use_case: str,
    operator: str | None,
    decision_labels: str | None,
    favourable: str | None,
    decision_mode: str | None,
    decision_reasons: tuple[str, ...],
    protected: str | None,
    min_label_mass: float | None,
    frame: str | None,
    policy: Path | None,
    key_store: Path | None,
    db: Path,
    model: str | None,
    device: str | None,
    dtype: str | None,
    as_json: bool,
    **params: Any,
) -> None:
    """Generate once and store the full record.

    \b
    Example:
      llm-audit generate --prompt "The capital of France is" --max-new-tokens 5
      llm-audit generate --system "You are a credit analyst." \\
          --template "Income {income}, score {score}. Approve?" --var income=42000 --var score=580 \\
          --use-case credit-decision --json
      llm-audit generate --system "Answer APPROVE or DECLINE first." --template "Income {income}. Approve?" \\
          --var income=42000 --decision-labels APPROVE,DECLINE --favourable APPROVE --use-case credit-decision
      llm-audit generate --policy examples/privacy/policy.toml --template "Customer {customer_id}, card {card}. Approve?" \\
          --var customer_id=C-1 --var card="4111 1111 1111 1111" --use-case credit-decision
    """
    prompt = _read(prompt, prompt_file, "prompt")
    template = _read(template, template_file, "template")
    chat_messages = parse_json_arg(messages, "--messages") if messages is not None else None
    if chat_messages is not None and not isinstance(chat_messages, list):
        raise UserError('--messages must be a JSON list, e.g. [{"role": "user", "content": "..."}]')
    variables = _variables(var_pairs, vars_json)
    if variables and template is None:
        raise UserError("--var/--vars need a --template")
    decision = _decision(
        decision_labels,
        favourable,
        decision_mode,
        decision_reasons,
        protected,
        {"min_label_mass": min_label_mass, "frame": frame},
    )
    auditor = make_auditor(
        db=db, model=model, device=device, dtype=dtype, operator=operator, policy=policy, key_store=key_store
    )
    record = auditor.generate(
        prompt=prompt,
        template=template,
        variables=variables,
        messages=chat_messages,
        system=system,
        chat=chat,
        seed=seed,
        use_case=use_case,
        decision=decision,
        **generation_params(params),
    )
    if as_json:
        echo_json(record.to_dict())
    else:
        click.echo(record_summary(record))
