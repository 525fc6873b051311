"""A generation made by another server (through ``llm-audit proxy``), as a record that says what is known.

The proxy sees the request it forwarded and the answer it got back; it does not see the
upstream's weights, tokenizer, defaults or hardware. What it can add comes from the served
weights' folder when the operator points at it (``--model-path``): their hashes (the identity
replay and explanation check), their tokenizer (the prompt exactly as the chat template renders
it, and its ids) and their generation defaults. ``tags.proxy.known`` states, field by field,
where each part of the record came from; a record whose token ids are not known can be read
and replayed against the upstream, but not explained or replayed locally.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from ..environment import Environment, remote_environment
from ..errors import UserError
from ..ids import uuid7
from ..params import config_to_record, effective_config
from ..prompts import PromptInput, build_prompt, chat_messages, render_template
from ..record import GenerationRecord, ModelIdentity, TopAlternative
from ..recording.assemble import assemble_record
from ..recording.request import GenerationRequest
from .answer import Answer, StandIns

PROXY_TAG = "proxy"
RUN_UNKNOWN = {"batch_size": None, "attn_implementation": None, "dtype": None}  # the upstream batches as it likes


@dataclass
class ServedWeights:
    """What ``--model-path`` gives the proxy: the weights' identity, tokenizer and generation defaults."""

    identity: ModelIdentity
    tokenizer: Any
    generation_config: Any  # transformers.GenerationConfig

    @classmethod
    def load(cls, folder: Path) -> ServedWeights:
        """Read the folder's tokenizer and config and hash its files; the weights are hashed, not loaded."""
        from transformers import AutoConfig, AutoTokenizer, GenerationConfig

        from ..hashing import FileHashCache
        from ..model.cache import cache_dir
        from ..model.identity import describe_folder
        from ..model.loader import _revision_of

        folder = folder.expanduser().resolve()
        if not (folder / "config.json").is_file():
            raise UserError(
                f"--model-path {folder} is not a Hugging Face model folder (no config.json): "
                "pass the folder of the weights the upstream serves, or omit it"
            )
        tokenizer = AutoTokenizer.from_pretrained(folder)
        try:
            generation_config = GenerationConfig.from_pretrained(folder)
        except OSError:  # no generation_config.json: transformers derives it from config.json
            generation_config = GenerationConfig.from_model_config(AutoConfig.from_pretrained(folder))
        hashes = FileHashCache(cache_dir() / "file-hashes.json")
        identity = describe_folder(folder, tokenizer, hashes, revision=_revision_of(folder))
        return cls(identity, tokenizer, generation_config)

    @cached_property
    def _ids_by_text(self) -> dict[str, int | None]:
        """Each token's text -> its id, or None when several tokens read the same (then the text alone is ambiguous)."""
        found: dict[str, int | None] = {}
        for token_id in range(len(self.tokenizer)):
            text = self.tokenizer.decode([token_id])
            found[text] = None if text in found else token_id
        return found

    def id_of(self, text: str) -> int | None:
        """The id of the one token whose text is ``text`` in these weights' vocabulary, else None."""
        return self._ids_by_text.get(text)

    def eos_ids(self) -> set[int]:
        eos = self.generation_config.eos_token_id
        return set() if eos is None else set(eos) if isinstance(eos, list | tuple) else {int(eos)}


def unknown_identity(model: str | None, upstream: str) -> ModelIdentity:
    """The identity of weights nobody pointed the proxy at: a name the upstream gave, no hashes."""
    return ModelIdentity(
        name=model or "unknown",
        source=upstream,
        architecture="unknown",
        model_type="unknown",
        parameter_count=0,
        revision=None,
        weights_sha256={},
        config_sha256="unknown",
        tokenizer_sha256={},
        chat_template_sha256=None,
        context_length=None,
    )


def _prompt(
    prompt: dict[str, Any], answer: Answer, weights: ServedWeights | None
) -> tuple[PromptInput, dict[str, str]]:
    """The prompt as recorded, and where its text and ids came from."""
    if weights is not None:
        try:
            prepared = build_prompt(weights.tokenizer, **prompt)
        except UserError:
            prepared = None
        if prepared is not None:
            known = {"prompt": "rendered by the tokenizer and chat template of --model-path"}
            upstream_ids = answer.prompt_token_ids
            if upstream_ids is not None:
                agree = list(upstream_ids) == prepared.input_ids
                known["input_ids"] = "upstream" + ("" if agree else " (differ from --model-path's tokenizer)")
                prepared = dataclasses.replace(prepared, input_ids=list(upstream_ids))
            else:
                known["input_ids"] = "tokenised by --model-path's tokenizer"
            return prepared, known
    chat = prompt.get("messages") is not None or prompt.get("chat")
    template, variables, system = prompt.get("template"), prompt.get("variables"), prompt.get("system")
    if template is not None:
        rendered = render_template(template, dict(variables or {}))
        messages = chat_messages(rendered, system) if chat else None
        text = "" if chat else rendered
    else:
        messages, text = prompt.get("messages"), prompt.get("prompt") or ""
    known = {
        "prompt": "unknown (the upstream applies its own chat template)" if chat else "the prompt text as sent",
        "input_ids": "upstream" if answer.prompt_token_ids is not None else "unknown",
    }
    prepared = PromptInput(
        kind="template" if template is not None else "messages" if chat else "text",
        text=text,
        template=template,
        variables=dict(variables) if variables is not None else None,
        messages=messages,
        system=system,
        add_special_tokens=not chat,
        input_ids=list(answer.prompt_token_ids or []),
    )
    return prepared, known


def _finish(answer: Answer, output_ids: list[int], weights: ServedWeights | None) -> str:
    reason = answer.finish_reason or "unknown"
    if reason == "stop" and weights is not None and output_ids and output_ids[-1] in weights.eos_ids():
        return "eos"
    return reason


def proxied_record(
    request: GenerationRequest,
    *,
    started: float,
    finished: float,
    answer: Answer,
    upstream: str,
    sent: dict[str, Any],
    weights: ServedWeights | None,
    host: Environment | None = None,
    model_name: str | None = None,
    requested_model: str | None = None,
) -> GenerationRecord:
    """The record of one proxied completion; ``sent``: the parameters forwarded (no content).

    ``host``: the recording host's :func:`~audit.environment.remote_environment`, read once per process by the
    proxy (package versions and the CPU name do not change under a running process; reading them again for
    every request cost half of the proxy's event loop). ``model_name``: the model the upstream serves as its
    ``/v1/models`` lists it (:func:`audit.traffic.answer.served_model`), never the name an answer echoes back
    (llama.cpp repeats whatever the client sent); ``requested_model``: the name the client asked for.
    """
    stand_ins = StandIns()
    resolved = {"by_vocabulary": 0}

    def token_id(text: str, given: int | None, raw: bytes | None) -> int:
        if given is None and weights is not None and "\ufffd" not in text:  # a piece of a character: not by text
            given = weights.id_of(text)
            resolved["by_vocabulary"] += given is not None
        return stand_ins.id(text, given, raw)

    output_ids = [token_id(step.token, given, step.raw) for step, given in zip(answer.steps, answer.ids())]
    top = [
        [
            TopAlternative(token_id(t, i, step.top_raw[n] if n < len(step.top_raw) else None), t, lp)
            for n, (t, i, lp) in enumerate(step.top)
        ]
        for step in answer.steps
    ]
    prepared, known = _prompt(request.prompt_inputs(), answer, weights)
    params, tags = request.params, request.tags
    if weights is not None:
        config = config_to_record(effective_config(weights.generation_config, params))
        known["generation_config"] = (
            "the request on --model-path's generation defaults (the upstream's are assumed equal)"
        )
    else:
        config = dict(sorted(params.given().items()))
        known["generation_config"] = "the parameters sent only (the upstream's defaults are unknown)"
    ids_known = sum(i >= 0 for i in output_ids) == len(output_ids) and all(a.token_id >= 0 for s in top for a in s)
    known.update(
        output_ids=(
            "upstream"
            if not resolved["by_vocabulary"]
            else "upstream, and by --model-path's vocabulary where only a text came back"
        )
        if ids_known
        else "partly: tokens without an id are kept by their text (stand-in ids -2, -3, ... index tags.content.token_strings)",
        logprobs="upstream" if answer.steps else "none returned",
        model="hashes of --model-path (the operator's statement of what the upstream serves)"
        if weights is not None
        else "the upstream's model name (as its /v1/models lists it) only"
        if model_name
        else "unknown: the upstream's /v1/models did not name the model it served",
        environment="the proxy host; the upstream's hardware and software are known by its system_fingerprint only",
    )
    content = dict(tags.get("content") or {})
    if stand_ins.strings:
        content["token_strings"] = stand_ins.strings  # text of the stand-in ids -2, -3, ...
    if stand_ins.raw:
        content["token_bytes"] = stand_ins.raw  # stand-in index -> bytes (hex) of tokens their text cannot tell apart
    proxy = {
        "upstream": upstream,
        "upstream_model": model_name,
        "requested_model": requested_model,
        "system_fingerprint": answer.system_fingerprint,
        "upstream_completion_id": answer.completion_id,
        "upstream_receipt": answer.receipt,
        "usage": answer.usage,
        "sent": sent,
        "known": known,
    }
    fingerprint = answer.system_fingerprint or "no system_fingerprint"
    return assemble_record(
        request,
        prepared,
        record_id=request.record_id or uuid7(int(started * 1000)),
        started=started,
        finished=finished,
        output_ids=output_ids,
        output_text=answer.text,
        finish_reason=_finish(answer, output_ids, weights),
        token_logprobs=[step.logprob for step in answer.steps],
        top_logprobs=top,
        generation_config={**config, **RUN_UNKNOWN},
        model=weights.identity if weights is not None else unknown_identity(model_name, upstream),
        environment=dataclasses.replace(
            host or remote_environment("upstream", upstream), device_name=f"{upstream} ({fingerprint})"
        ),
        tags={**tags, **({"content": content} if content else {}), PROXY_TAG: proxy},
    )


def proxy_facts(record: GenerationRecord) -> dict[str, Any] | None:
    """``tags.proxy`` of a proxied record, else None."""
    facts = record.tags.get(PROXY_TAG)
    return facts if isinstance(facts, dict) else None


def require_local_tokens(record: GenerationRecord, what: str) -> None:
    """Refuse ``what`` (explain, attention, local replay) on a proxied record whose token ids are not all known."""
    facts = proxy_facts(record)
    if facts is None:
        return
    known = facts.get("known", {})
    if not record.model.weights_sha256:
        raise UserError(
            f"record {record.id} was proxied from {facts.get('upstream')} without --model-path: the weights it ran on "
            f"are unknown, so {what} cannot run on it; replay it against the upstream (`llm-audit replay ID --upstream URL`)"
        )
    if (
        not record.input_ids
        or any(token_id < -1 for token_id in record.output_ids)
        or known.get("input_ids") == "unknown"
    ):
        raise UserError(
            f"record {record.id} was proxied from {facts.get('upstream')} without all token ids "
            f"(input ids: {known.get('input_ids')}; output ids: {known.get('output_ids')}), so {what} cannot run on it: "
            "replay it against the upstream (`llm-audit replay ID --upstream URL`), or record through a proxy "
            "with --model-path in front of a server that returns token ids"
        )
