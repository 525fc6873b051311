"""The one typed generation request: what to generate, for whom and why, checked before any model loads.

Every entry point builds it the same way, with :meth:`GenerationRequest.build`: ``llm-audit
generate`` from its options, the recording server and the proxy from an OpenAI request
(:mod:`audit.serve.context`), Python from :meth:`audit.Auditor.generate`'s keywords. Every mistake
that needs no model is refused there, once: a refused request costs nothing and stores nothing.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..decision.spec import DecisionSpec, check_spec
from ..errors import UserError
from ..params import GenerationParams
from ..prompts import check_inputs, check_prompt, template_fields

USE_CASES = ("credit-decision", "risk-assessment", "financial-advice", "news-summary", "legal-analysis")
PROMPT_FIELDS = ("prompt", "template", "variables", "messages", "system", "chat")


def default_operator() -> str:
    """Who is recording: ``$LLM_AUDIT_OPERATOR``, else the login name."""
    try:
        return os.environ.get("LLM_AUDIT_OPERATOR") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@dataclass(frozen=True)
class GenerationRequest:
    """What to generate, checked: the prompt as given, the parameters, the decision, the seed, who and what for.

    The prompt is exactly one of ``prompt``, ``template`` (with ``variables``) or ``messages``,
    with ``system`` and ``chat`` (:func:`audit.prompts.build_prompt`). ``record_id`` is set by a
    caller that must name the record before it exists (a stream's header); else the record's id
    is minted from its start time.
    """

    params: GenerationParams
    seed: int
    use_case: str
    operator: str
    prompt: str | None = None
    template: str | None = None
    variables: dict[str, Any] | None = None
    messages: list[dict[str, Any]] | None = None
    system: str | None = None
    chat: bool | None = None
    decision: DecisionSpec | None = None
    tags: dict[str, Any] = field(default_factory=dict)
    record_id: str | None = None

    @classmethod
    def build(
        cls,
        *,
        operator: str,
        prompt: str | None = None,
        template: str | None = None,
        variables: dict[str, Any] | None = None,
        messages: list[dict[str, Any]] | None = None,
        system: str | None = None,
        chat: bool | None = None,
        params: Mapping[str, Any] | None = None,
        decision: Any = None,
        seed: Any = 0,
        use_case: Any = "general",
        tags: dict[str, Any] | None = None,
        record_id: str | None = None,
    ) -> GenerationRequest:
        """The checked request. ``params``: generation parameters by name (:class:`audit.params.GenerationParams`;
        ``None`` keeps the model's default); ``decision``: a dict or :class:`~audit.decision.spec.DecisionSpec`
        (:func:`audit.decision.spec.check_spec`), turned into the spec here and nowhere else."""
        spec = check_spec(decision, template_fields(template) if isinstance(template, str) else None)
        checked = GenerationParams.of({k: v for k, v in (params or {}).items() if v is not None})
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise UserError(f"seed must be a non-negative integer (got {seed!r})")
        if not use_case or not str(use_case).strip():
            raise UserError(f"use case is empty: pass one of {', '.join(USE_CASES)} or a short tag of your own")
        checked.validate()
        prompt_inputs = {"prompt": prompt, "template": template, "variables": variables, "messages": messages}
        prompt_inputs.update(system=system, chat=chat)
        tags = dict(tags or {})
        check_inputs({**prompt_inputs, "operator": operator, "use case": use_case, "tags": tags})
        check_prompt(prompt=prompt, template=template, variables=variables, messages=messages, system=system)
        return cls(
            checked,
            seed,
            str(use_case).strip(),
            operator,
            **prompt_inputs,
            decision=spec,
            tags=tags,
            record_id=record_id,
        )

    def prompt_inputs(self) -> dict[str, Any]:
        """The prompt as given (only what was given): :func:`audit.prompts.build_prompt`'s keywords."""
        return {name: getattr(self, name) for name in PROMPT_FIELDS if getattr(self, name) is not None}
