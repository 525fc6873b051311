"""An OpenAI request as a :class:`audit.recording.GenerationRequest`, audit context included.

A client sends the rendered prompt (so it works against any OpenAI server) and may add what
the record needs to be explained by field: the template and its variables. The server then
records the generation *from the template*, after checking that the template rendered with
the variables is exactly the user message (or prompt) it was sent: the record never says a
template produced a prompt that it did not.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from ..errors import UserError
from ..params import GenerationParams
from ..prompts import render_template
from ..recording import GenerationRequest
from .errors import bad_request
from .schema import AuditContext, ChatRequest, CompletionRequest

SYSTEM_ROLES = ("system", "developer")


def prompt_inputs(request: ChatRequest | CompletionRequest, context: AuditContext) -> dict[str, Any]:
    """The prompt part of the request: ``messages``, ``prompt`` or ``template`` with variables."""
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
    """The generation parameters, in :class:`audit.params.GenerationParams`' names (None: the model's default),
    read through each parameter's declared ``served`` attribute (a method is called)."""
    values = {}
    for param in fields(GenerationParams):
        served = param.metadata["served"]
        if served is not None:
            value = getattr(request, served)
            value = value() if callable(value) else value
            if value is not None and value != []:  # no stop strings: the model's default
                values[param.name] = value
    return values


def generation_request(
    request: ChatRequest | CompletionRequest,
    context: AuditContext,
    *,
    seed: int,
    use_case: str,
    operator: str,
    tags: dict[str, Any],
    record_id: str,
    params: dict[str, Any] | None = None,
) -> GenerationRequest:
    """The one way a served request (``serve`` or ``proxy``) becomes a :class:`GenerationRequest`, its refusals
    as OpenAI 400s; the decision specification joins exactly as ``Auditor.generate(decision=...)`` receives it,
    and the recorder refuses what it cannot score. ``params``: the parameters, when the caller completed them."""
    decision = context.decision.model_dump(exclude_none=True) if context.decision is not None else None
    try:
        return GenerationRequest.build(
            **prompt_inputs(request, context),
            params=parameter_inputs(request) if params is None else params,
            decision=decision,
            seed=seed,
            use_case=use_case,
            operator=operator,
            tags=tags,
            record_id=record_id,
        )
    except UserError as exc:
        message = str(exc)
        raise bad_request(
            message, "llm_audit.decision" if "decision" in message or "label" in message else None
        ) from None


def client_content(request: ChatRequest | CompletionRequest) -> dict[str, Any] | None:
    """What the client said about itself (``user``, its own metadata): recorded, and sealed under a policy."""
    content: dict[str, Any] = {}
    if request.user:
        content["user"] = request.user
    if request.client_metadata():
        content["metadata"] = request.client_metadata()
    return content or None
