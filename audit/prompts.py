"""Turn what the user gave (text, a template with variables, chat messages) into token ids.

Three kinds, recorded as such:

* ``text``: tokenised exactly as given, with the tokenizer's own special tokens, no chat template.
* ``template``: a Python format string (``{income}``), the syntax Captum's ``TextTemplateInput``
  uses, so field-level attribution works on the same template. With a system message
  (or ``chat=True``) the rendered text becomes the user turn of the chat template.
* ``messages``: chat messages through the tokenizer's chat template with the generation prompt.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

from .errors import UserError

_SENTINEL = "\x00LLM_AUDIT_TEMPLATE\x00"


@dataclass
class PromptInput:
    kind: str
    text: str
    template: str | None
    variables: dict[str, Any] | None
    messages: list[dict[str, str]] | None
    system: str | None
    add_special_tokens: bool
    input_ids: list[int]


def template_fields(template: str) -> list[str]:
    """Field names in order of first appearance."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise UserError(
            f"template is not a valid format string ({exc}): write fields as {{name}} and literal braces as {{{{ }}}}"
        ) from None
    seen: list[str] = []
    for name in names:
        if name == "" or not name.isidentifier():
            raise UserError(f"template field {{{name}}} is not a name: use {{income}}-style fields")
        if name not in seen:
            seen.append(name)
    return seen


def render_template(template: str, variables: dict[str, Any]) -> str:
    fields = template_fields(template)
    missing = [f for f in fields if f not in variables]
    if missing:
        raise UserError(f"template needs variable(s) {', '.join(missing)}: pass them with --var NAME=VALUE")
    unused = [v for v in variables if v not in fields]
    if unused:
        raise UserError(
            f"variable(s) {', '.join(unused)} do not appear in the template: remove them or add {{{unused[0]}}} to it"
        )
    return template.format(**{k: variables[k] for k in fields})


def _chat(tokenizer, messages: list[dict[str, str]]) -> str:
    if not getattr(tokenizer, "chat_template", None):
        raise UserError(
            "this model's tokenizer has no chat template: pass --prompt text instead of messages or a system message"
        )
    for message in messages:
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            raise UserError('each message needs "role" and "content": e.g. [{"role": "user", "content": "..."}]')
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def chat_messages(text: str, system: str | None) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": system}] if system else []
    return messages + [{"role": "user", "content": text}]


def full_template(tokenizer, template: str, system: str | None, chat: bool) -> str:
    """The whole prompt as a format string: chat markup escaped, the user's fields intact.

    Field-level attribution perturbs fields of *this* string, so its rendering with the
    recorded variables must equal the recorded prompt exactly (checked by the caller).
    """
    if not chat:
        return template
    rendered = _chat(tokenizer, chat_messages(_SENTINEL, system))
    escaped = rendered.replace("{", "{{").replace("}", "}}")
    return escaped.replace(_SENTINEL, template)


def build_prompt(
    tokenizer,
    *,
    prompt: str | None = None,
    template: str | None = None,
    variables: dict[str, Any] | None = None,
    messages: list[dict[str, str]] | None = None,
    system: str | None = None,
    chat: bool | None = None,
) -> PromptInput:
    given = [x is not None for x in (prompt, template, messages)]
    if sum(given) != 1:
        raise UserError("give exactly one of a prompt, a template (with variables) or chat messages")
    if prompt is not None:
        if system is not None:
            raise UserError("a system message needs a template or messages, not plain --prompt text")
        if not prompt.strip():
            raise UserError("the prompt is empty: pass the text to send to the model")
        kind, text, add_special = "text", prompt, True
    elif template is not None:
        if not template.strip():
            raise UserError("the template is empty: pass the template text")
        variables = dict(variables or {})
        rendered = render_template(template, variables)
        use_chat = bool(system) if chat is None else chat
        if use_chat:
            messages = chat_messages(rendered, system)
            kind, text, add_special = "template", _chat(tokenizer, messages), False
        else:
            kind, text, add_special = "template", rendered, True
    else:
        if not messages:
            raise UserError("the message list is empty: pass at least one user message")
        if not any(str(m.get("content", "")).strip() for m in messages if isinstance(m, dict)):
            raise UserError("every message is empty: pass the text to send to the model")
        kind, text, add_special = "messages", _chat(tokenizer, messages), False
    ids = tokenizer(text, add_special_tokens=add_special)["input_ids"]
    if not ids:
        raise UserError("the prompt tokenises to nothing: pass some text")
    return PromptInput(
        kind=kind,
        text=text,
        template=template,
        variables=variables if template is not None else None,
        messages=messages,
        system=system,
        add_special_tokens=add_special,
        input_ids=list(ids),
    )
