"""The OpenAI requests the server and proxy accept, checked field by field before anything runs.

Only what a record can state truthfully is accepted. A parameter the recorder cannot honour
(``frequency_penalty``, ``logit_bias``, tools, ``n > 1``...) is refused with its name when it is
set to anything but its neutral value, instead of being silently ignored: a record that omits
a parameter the client believed applied would claim more than it proves. Fields nobody here
knows are refused too (``extra="forbid"``), except the few OpenAI clients send by default.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ApiError, bad_request

MAX_STOP = 4  # OpenAI's limit on stop sequences
TOP_LOGPROBS = 5  # what every record keeps per step (audit.scoring.TOP_K)
METADATA_PREFIX = "llm_audit."
MAX_TOKENS = 2**31 - 1  # a larger budget is no budget (2**64 passed through to upstreams and into records)
METADATA_KEYS = ("use_case", "template", "variables", "decision")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class DecisionSpec(_Strict):
    """A decision specification, as ``Auditor.generate(decision=...)`` takes it: two or more labels, the one
    favourable to the applicant, the mode, and optionally each template field's adverse-action reason.
    Token-level checks (labels that tokenise alike) happen in the recorder, which answers 400 too."""

    labels: list[str] = Field(min_length=2)
    favourable: str
    mode: Literal["free", "constrained"] = "free"
    reasons: dict[str, str] | None = None
    protected: list[str] | None = None
    min_label_mass: float | None = Field(default=None, ge=0.0, le=1.0)  # below it: not a decision the model made
    frame: Literal["consumer-credit", "commercial-credit", "insurance", "eu-ai-act", "none"] | None = None

    @model_validator(mode="after")
    def _labels_make_sense(self) -> DecisionSpec:
        if any(not label.strip() for label in self.labels):
            raise ValueError("decision labels must be non-empty")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"decision labels repeat: {self.labels}")
        if self.favourable is not None and self.favourable not in self.labels:
            raise ValueError(f"favourable label {self.favourable!r} is not one of the labels {self.labels}")
        return self


class AuditContext(_Strict):
    """What the record needs beyond the OpenAI request: the openai client's ``extra_body={"llm_audit": {...}}``."""

    use_case: str | None = None
    template: str | None = None
    variables: dict[str, str | int | float | bool] | None = None
    decision: DecisionSpec | None = None
    tags: dict[str, str | int | float | bool] | None = None

    @model_validator(mode="after")
    def _variables_need_a_template(self) -> AuditContext:
        if self.variables and self.template is None:
            raise ValueError("variables need a template: send llm_audit.template with them")
        return self


class TextPart(_Strict):
    type: Literal["text"]
    text: str


class Message(_Strict):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]
    name: str | None = None

    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(part.text for part in self.content)


class StreamOptions(_Strict):
    include_usage: bool | None = None
    include_obfuscation: bool | None = None


def _neutral(value: Any, name: str, neutral: tuple[Any, ...]) -> Any:
    if value not in neutral:
        raise ValueError(f"{name} is not supported by llm-audit (a record could not state its effect): omit it")
    return value


class _Common(_Strict):
    """The fields both endpoints share."""

    model: str
    max_tokens: int | None = Field(default=None, ge=1, le=MAX_TOKENS)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    seed: int | None = Field(default=None, ge=0, lt=2**32)
    stop: str | list[str] | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    n: int | None = None
    user: str | None = None
    metadata: dict[str, str] | None = None
    llm_audit: AuditContext | None = None
    return_token_ids: bool | None = None  # vLLM's: prompt_token_ids and choices[].token_ids in the response
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    logit_bias: dict[str, float] | None = None

    @field_validator("n")
    @classmethod
    def _one_choice(cls, value: int | None) -> int | None:
        if value not in (None, 1):
            raise ValueError(f"n must be 1 (got {value}): each completion is one recorded generation, send n requests")
        return value

    @field_validator("stop")
    @classmethod
    def _stops(cls, value: str | list[str] | None) -> str | list[str] | None:
        stops = [value] if isinstance(value, str) else value or []
        if len(stops) > MAX_STOP:
            raise ValueError(f"at most {MAX_STOP} stop sequences (got {len(stops)})")
        if any(not s for s in stops):
            raise ValueError("stop sequences must be non-empty")
        return value

    @field_validator("frequency_penalty", "presence_penalty")
    @classmethod
    def _no_penalty(cls, value: float | None, info) -> float | None:
        return _neutral(value, info.field_name, (None, 0, 0.0))

    @field_validator("logit_bias")
    @classmethod
    def _no_bias(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        return _neutral(value or None, "logit_bias", (None,))

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None and len(value) > 16:
            raise ValueError(f"metadata holds at most 16 pairs (got {len(value)})")
        return value

    def stops(self) -> list[str]:
        return [self.stop] if isinstance(self.stop, str) else list(self.stop or [])

    def wants_usage_chunk(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)

    def audit_context(self) -> AuditContext:
        """``llm_audit`` merged with ``metadata["llm_audit.*"]`` (string values; variables and decision as JSON)."""
        given = dict(self.llm_audit.model_dump(exclude_none=True)) if self.llm_audit else {}
        for key in METADATA_KEYS:
            raw = (self.metadata or {}).get(METADATA_PREFIX + key)
            if raw is None:
                continue
            value: Any = raw
            if key in ("variables", "decision"):
                try:
                    value = json.loads(raw)
                except ValueError:
                    raise bad_request(
                        f"metadata[{METADATA_PREFIX}{key}] is not JSON: send a JSON object as the string value",
                        f"metadata.{METADATA_PREFIX}{key}",
                    ) from None
            if key in given and given[key] != value:
                raise bad_request(
                    f"{key} is given twice with different values (llm_audit.{key} and metadata[{METADATA_PREFIX}{key}])",
                    f"llm_audit.{key}",
                )
            given[key] = value
        try:
            return AuditContext.model_validate(given, strict=False)
        except ValidationError as exc:
            raise from_validation(exc, prefix="llm_audit") from None

    def client_metadata(self) -> dict[str, str]:
        """The metadata that is the client's own (recorded as given; redacted under a policy)."""
        return {k: v for k, v in (self.metadata or {}).items() if not k.startswith(METADATA_PREFIX)}


class ChatRequest(_Common):
    messages: list[Message] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=MAX_TOKENS)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    # sent by some clients and gateways with neutral values; anything else is refused
    tools: list[Any] | None = None
    tool_choice: str | None = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None
    store: bool | None = None

    @field_validator("tools")
    @classmethod
    def _no_tools(cls, value: list[Any] | None) -> list[Any] | None:
        return _neutral(value or None, "tools", (None,))

    @field_validator("tool_choice")
    @classmethod
    def _no_tool_choice(cls, value: str | None) -> str | None:
        return _neutral(value, "tool_choice", (None, "none", "auto"))

    @field_validator("response_format")
    @classmethod
    def _text_only(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _neutral(value, "response_format (other than text)", (None, {"type": "text"}))

    @field_validator("top_logprobs")
    @classmethod
    def _top_kept(cls, value: int | None, info) -> int | None:
        """A field validator (not a model one), so the error names ``top_logprobs`` as its param."""
        if value is not None and value > TOP_LOGPROBS:
            raise ValueError(f"top_logprobs is at most {TOP_LOGPROBS} here: each record keeps the top {TOP_LOGPROBS}")
        if value and not info.data.get("logprobs"):
            raise ValueError("top_logprobs needs logprobs: true")
        return value

    @field_validator("max_completion_tokens")
    @classmethod
    def _one_budget(cls, value: int | None, info) -> int | None:
        given = info.data.get("max_tokens")
        if value and given and value != given:
            raise ValueError("max_tokens and max_completion_tokens differ: send one of them")
        return value

    def token_budget(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    def top_requested(self) -> int | None:
        """How many alternatives per token the client asked for (None: no log-probabilities)."""
        return (self.top_logprobs or 0) if self.logprobs else None


class CompletionRequest(_Common):
    prompt: str | list[str]
    logprobs: int | None = Field(default=None, ge=0, le=TOP_LOGPROBS)
    echo: bool | None = None
    suffix: str | None = None
    best_of: int | None = None

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and len(value) != 1:
            raise ValueError(f"send one prompt per request (got {len(value)}): each is one recorded generation")
        return value

    @field_validator("echo")
    @classmethod
    def _no_echo(cls, value: bool | None) -> bool | None:
        return _neutral(value, "echo", (None, False))

    @field_validator("suffix")
    @classmethod
    def _no_suffix(cls, value: str | None) -> str | None:
        return _neutral(value, "suffix", (None,))

    @field_validator("best_of")
    @classmethod
    def _no_best_of(cls, value: int | None) -> int | None:
        return _neutral(value, "best_of", (None, 1))

    def text(self) -> str:
        return self.prompt if isinstance(self.prompt, str) else self.prompt[0]

    def token_budget(self) -> int | None:
        return self.max_tokens

    def top_requested(self) -> int | None:
        return self.logprobs


def from_validation(exc: ValidationError, prefix: str = "") -> ApiError:
    """The first problem pydantic found, as one OpenAI 400 naming the parameter."""
    error = exc.errors(include_url=False)[0]
    if error["type"] == "json_invalid":
        return bad_request(
            f"the request body is not valid JSON ({error.get('ctx', {}).get('error', error['msg'])}): send a JSON object",
            code="invalid_json",
        )
    loc = [str(part) for part in error["loc"] if not str(part).startswith("function-")]
    loc = [part for part in loc if part not in ("str", "list[str]", "list[TextPart]", "int", "float")]
    param = ".".join([prefix, *loc] if prefix else loc) or None
    if error["type"] == "extra_forbidden":
        return bad_request(
            f"unknown or unsupported parameter {param!r}: llm-audit records only what it can honour, remove it",
            param,
            "unsupported_parameter",
        )
    if error["type"] == "missing":
        return bad_request(f"missing required parameter {param!r}", param, "missing_parameter")
    message = str(error["msg"]).removeprefix("Value error, ")
    code = "unsupported_parameter" if "not supported by llm-audit" in message else "invalid_parameter"
    return bad_request(f"invalid {param or 'request'}: {message}", param, code)


def parse(model: type[_Strict], body: bytes) -> Any:
    """``body`` (raw JSON) as ``model``, or an OpenAI 400."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise from_validation(exc) from None
