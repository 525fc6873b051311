"""An OpenAI request as the inputs of :func:`audit.recording.check_request`, audit context included.

A client sends the rendered prompt (so it works against any OpenAI server) and may add what
the record needs to be explained by field: the template and its variables. The server then
records the generation *from the template*, after checking that the template rendered with
the variables is exactly the user message (or prompt) it was sent: the record never says a
template produced a prompt that it did not.
"""

from __future__ import annotations

from typing import Any

from ..errors import UserError
from ..prompts import render_template
from .errors import bad_request
from .schema import AuditContext, ChatRequest, CompletionRequest

SYSTEM_ROLES = ("system", "developer")


def prompt_inputs(request: ChatRequest | CompletionRequest, context: AuditContext) -> dict[str, Any]:
    """The prompt part of ``check_request``'s inputs: ``messages``, ``prompt`` or ``template`` with variables."""
    if isinstance(request, ChatRequest):
        messages = [{"role": m.role, "content": m.text()} for m in request.messages]
        if context.template is None:
            return {"messages": messages}
        *before, last = messages
        if last["role"] != "user" or len(before) > 1 or any(m["role"] not in SYSTEM_ROLES for m in before):
            raise bad_request(
                "with llm_audit.template the messages must be an optional system message and one user message "
                "(the template rendered): send earlier turns without a template",
                "messages",
            )
        _check_rendering(context, last["content"], "messages")
        system = before[0]["content"] if before else None
        return {"template": context.template, "variables": context.variables or {}, "system": system, "chat": True}
    if context.template is None:
        return {"prompt": request.text()}
    _check_rendering(context, request.text(), "prompt")
    return {"template": context.template, "variables": context.variables or {}, "chat": False}


def _check_rendering(context: AuditContext, sent: str, param: str) -> None:
    try:
        rendered = render_template(context.template or "", dict(context.variables or {}))
    except UserError as exc:
        raise bad_request(f"llm_audit.template: {exc}", "llm_audit.template") from None
    if rendered != sent:
        raise bad_request(
            f"the {'user message' if param == 'messages' else 'prompt'} is not llm_audit.template rendered with "
            f"llm_audit.variables (rendered: {rendered[:80]!r}): send the rendered text, or no template",
            param,
        )


def parameter_inputs(request: ChatRequest | CompletionRequest) -> dict[str, Any]:
    """The generation parameters, in :class:`audit.params.GenerationParams`' names (None: the model's default)."""
    values = {
        "max_new_tokens": request.token_budget(),
        "temperature": request.temperature,
        "top_p": request.top_p,
        "stop_strings": request.stops() or None,
    }
    return {k: v for k, v in values.items() if v is not None}


def with_decision(inputs: dict[str, Any], context: AuditContext) -> dict[str, Any]:
    """The one place a decision specification joins the inputs, exactly as ``Auditor.generate(decision=...)``
    receives it; the recorder scores it and refuses what it cannot score (a 400)."""
    if context.decision is None:
        return inputs
    return {**inputs, "decision": context.decision.model_dump(exclude_none=True)}


def client_content(request: ChatRequest | CompletionRequest) -> dict[str, Any] | None:
    """What the client said about itself (``user``, its own metadata): recorded, and sealed under a policy."""
    content: dict[str, Any] = {}
    if request.user:
        content["user"] = request.user
    if request.client_metadata():
        content["metadata"] = request.client_metadata()
    return content or None
