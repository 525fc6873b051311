"""Turn what the user gave (text, a template with variables, chat messages) into token ids.

Three kinds, recorded as such:

* ``text``: tokenised exactly as given, with the tokenizer's own special tokens, no chat template.
* ``template``: a Python format string (``{income}``), the syntax Captum's ``TextTemplateInput``
  uses, so field-level attribution works on the same template. With a system message
  (or ``chat=True``) the rendered text becomes the user turn of the chat template.
* ``messages``: chat messages through the tokenizer's chat template with the generation prompt.
"""

from __future__ import annotations

import re
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


# Roles a chat template may define; "user" and "assistant" every chat template handles.
KNOWN_ROLES = ("system", "user", "assistant", "tool", "ipython", "developer", "function")


def check_text(value: Any, what: str) -> None:
    """Refuse text that is not valid Unicode to store: a lone surrogate (from a JSON ``\\ud800`` escape) has no UTF-8."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise UserError(
                f"{what} holds a lone surrogate ({value[exc.start]!r} at character {exc.start}), which is not text: "
                "fix the input (a JSON \\ud800-style escape without its pair?)"
            ) from None


def template_fields(template: str) -> list[str]:
    """Field names in order of first appearance; plain ``{name}`` fields only.

    A format spec or conversion (``{score:d}``, ``{x!r}``, ``{x:{width}}``) is refused: the
    recorded prompt must be exactly the variables as given, and field-level attribution
    replaces each value by a baseline that a spec like ``:d`` could not format.
    """
    try:
        parsed = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise UserError(
            f"template is not a valid format string ({exc}): write fields as {{name}} and literal braces as {{{{ }}}}"
        ) from None
    seen: list[str] = []
    for name, spec, conversion in parsed:
        if name == "" or not name.isidentifier():
            raise UserError(f"template field {{{name}}} is not a name: use {{income}}-style fields")
        if spec or conversion:
            shown = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise UserError(
                f"template field {{{shown}}} has a format spec or conversion: write plain {{{name}}} and pass the value "
                "already formatted (the record keeps the variables exactly as given)"
            )
        if name not in seen:
            seen.append(name)
    return seen


def _walk(value: Any, what: str) -> None:
    check_text(value, what)
    if isinstance(value, dict):
        for key, item in value.items():
            check_text(key, f"{what} key")
            _walk(item, f"{what}[{key!r}]")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _walk(item, f"{what}[{index}]")


def check_inputs(inputs: dict[str, Any]) -> None:
    """What can be checked without the model, so a mistake costs nothing: text is text, templates are plain,
    messages are role/content pairs of strings."""
    for name, value in inputs.items():
        _walk(value, name)
    if inputs.get("template") is not None:
        template_fields(inputs["template"])
    messages = inputs.get("messages")
    if messages is not None:
        if not isinstance(messages, list):
            raise UserError('messages must be a list, e.g. [{"role": "user", "content": "..."}]')
        for number, message in enumerate(messages, start=1):
            if not isinstance(message, dict) or not isinstance(message.get("role"), str):
                raise UserError(f'message {number} needs a "role" string and a "content" string')
            if not isinstance(message.get("content"), str):
                raise UserError(
                    f"message {number}: content must be text, not {type(message.get('content')).__name__}: "
                    'e.g. {"role": "user", "content": "..."}'
                )


def template_roles(tokenizer) -> list[str]:
    """The chat roles the tokenizer's template defines: those it names, with user and assistant."""
    source = str(getattr(tokenizer, "chat_template", "") or "")
    return [r for r in KNOWN_ROLES if r in ("user", "assistant") or re.search(rf"\b{r}\b", source)]


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
    roles = template_roles(tokenizer)
    for number, message in enumerate(messages, start=1):
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            raise UserError('each message needs "role" and "content": e.g. [{"role": "user", "content": "..."}]')
        if not isinstance(message["content"], str):
            raise UserError(
                f"message {number}: content must be text, not {type(message['content']).__name__}: "
                'e.g. {"role": "user", "content": "..."}'
            )
        if not isinstance(message["role"], str) or message["role"] not in roles:
            raise UserError(
                f"message {number}: role {message['role']!r} is not one this model's chat template defines: "
                f"use {', '.join(roles)}"
            )
        extra = sorted(set(message) - {"role", "content"})
        if extra:
            raise UserError(f"message {number}: unknown key(s) {', '.join(extra)}: a message has only role and content")
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


def check_prompt(
    *,
    prompt: str | None = None,
    template: str | None = None,
    variables: dict[str, Any] | None = None,
    messages: list[dict[str, str]] | None = None,
    system: str | None = None,
) -> None:
    """Every check of the prompt that needs no tokenizer, so a request is refused before a model loads."""
    given = [x is not None for x in (prompt, template, messages)]
    if sum(given) != 1:
        raise UserError("give exactly one of a prompt, a template (with variables) or chat messages")
    if prompt is not None:
        if system is not None:
            raise UserError("a system message needs a template or messages, not plain --prompt text")
        if not prompt.strip():
            raise UserError("the prompt is empty: pass the text to send to the model")
    elif template is not None:
        if not template.strip():
            raise UserError("the template is empty: pass the template text")
        render_template(template, dict(variables or {}))
    else:
        if not messages:
            raise UserError("the message list is empty: pass at least one user message")
        if not any(str(m.get("content", "")).strip() for m in messages if isinstance(m, dict)):
            raise UserError("every message is empty: pass the text to send to the model")


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
    check_prompt(prompt=prompt, template=template, variables=variables, messages=messages, system=system)
    if prompt is not None:
        kind, text, add_special = "text", prompt, True
    elif template is not None:
        variables = dict(variables or {})
        rendered = render_template(template, variables)
        use_chat = bool(system) if chat is None else chat
        if use_chat:
            messages = chat_messages(rendered, system)
            kind, text, add_special = "template", _chat(tokenizer, messages), False
        else:
            kind, text, add_special = "template", rendered, True
    else:
        assert messages is not None
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
