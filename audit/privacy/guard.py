"""Apply the policy to what is about to be stored, and open what was sealed.

Generation always runs on the clear prompt in memory. What the store receives for a
sealed record is: the redacted prompt, template, variables, messages, system message and
output text (placeholders), token ids replaced by ``-1`` (lengths kept, so counts and
log-probability positions still line up), top-k alternatives without their token strings,
and one AES-GCM envelope (in ``tags.privacy``) with the exact clear content. The
generation event's payload is therefore redacted text plus ciphertext: destroying the key
later leaves the hash chain verifiable. Labels of explanations and attention analyses
(prompt tokens) and replayed token ids are sealed the same way, under the record's key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..attention.result import AttentionResult
from ..attribution.result import AttributionResult
from ..errors import UserError
from ..ids import assign_identity
from ..record import GenerationRecord, TopAlternative
from ..replay.result import ReplayResult
from .keystore import HOW_TO_SUPPLY, KeyMissing, KeyStore
from .policy import Policy
from .redaction import Redactor
from .retention import retain_until
from .sealing import open_sealed, seal

if TYPE_CHECKING:
    from ..store import AuditStore

SEALED_ID = -1
SEALED_TOKEN = "[SEALED]"
# Free text a client sent or an upstream returned beside the prompt (a served request's ``user`` and
# metadata, a proxied output's token strings): kept under ``tags[CONTENT_TAG]``, redacted and sealed
# like the prompt under a policy, since a tag is not otherwise protected.
CONTENT_TAG = "content"
# What a replay's extra holds of the replayed output's text (sealed with the ids).
REPLAY_TEXTS = ("replayed_output_text", "replayed_token_strings")


def _redact_content(redactor: Redactor, value: Any, location: str) -> Any:
    if isinstance(value, dict):
        return {k: _redact_content(redactor, v, f"{location}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_content(redactor, v, f"{location}[{i}]") for i, v in enumerate(value)]
    return redactor.value(value, location)


def privacy_of(tags: dict[str, Any] | None) -> dict[str, Any] | None:
    info = (tags or {}).get("privacy")
    return info if isinstance(info, dict) and info.get("sealed") else None


def is_sealed(record: GenerationRecord) -> bool:
    return privacy_of(record.tags) is not None


class PrivacyGuard:
    """Redact-and-seal on the way in, open on the way out; keys come from one key store."""

    def __init__(self, policy: Policy | None, key_store_path: Path) -> None:
        self.policy = policy
        self.key_store_path = key_store_path
        self._keys: KeyStore | None = None

    @property
    def keys(self) -> KeyStore:
        """The key store, read once on first use."""
        if self._keys is None:
            self._keys = KeyStore.open(self.key_store_path)
        return self._keys

    def check_key_store(self) -> None:
        """Read the key store now, so a bad one refuses before a model runs (UserError)."""
        _ = self.keys

    # -- what callers store and read ---------------------------------------------------------
    def open_stored(self, store: AuditStore, record: GenerationRecord, required: bool) -> GenerationRecord:
        """``record`` with its sealed content opened; without the key, the stored form or (``required``) a UserError."""
        if not is_sealed(record):
            return record
        try:
            return self.open_record(record)
        except KeyMissing:
            if not required:
                return record
            erased = store.privacy.erasure(record.id)
            if erased is not None:
                raise UserError(
                    f"record {record.id} was erased on {erased['erased_at'][:10]} under {erased['reason']!r}: "
                    "its content is gone by design"
                ) from None
            raise UserError(
                f"record {record.id} is sealed and key store {self.key_store_path} has no key for its data subject "
                f"{record.tags['privacy']['subject']}: {HOW_TO_SUPPLY} with the key store it was recorded with"
            ) from None

    def open_for_batch(
        self, store: AuditStore, records: list[GenerationRecord]
    ) -> tuple[list[GenerationRecord], dict[str, str]]:
        """Sealed records opened for the workers (exact token ids); those whose key is missing or
        erased are skipped with the reason instead of stopping the batch."""
        opened, locked = [], {}
        for record in records:
            try:
                opened.append(self.open_stored(store, record, True))
            except UserError as exc:
                locked[record.id] = str(exc)
        return opened, locked

    def open_result(self, result: Any) -> Any:
        """An explanation or attention pass with its sealed labels opened when the key is here, else as stored."""
        if result is None or "sealed" not in (result.extra or {}):
            return result
        try:
            return self.open_attention(result) if isinstance(result, AttentionResult) else self.open_explanation(result)
        except KeyMissing:
            return result

    def for_storage(self, record: GenerationRecord, result: Any) -> Any:
        """The form of an explanation, attention pass or replay of ``record`` to store (its id assigned first)."""
        assign_identity(result)
        if not is_sealed(record):
            return result
        if isinstance(result, AttributionResult):
            return self.seal_explanation(record, result)
        if isinstance(result, AttentionResult):
            return self.seal_attention(record, result)
        if isinstance(result, ReplayResult):
            return self.seal_replay(record, result)
        raise TypeError(f"no sealing for {type(result).__name__}")

    def sealer(self, records: list[GenerationRecord]) -> Callable[[Any], Any] | None:
        """What a batch applies to each result before storing it (None when no record is sealed)."""
        by_id = {record.id: record for record in records}
        if not any(is_sealed(record) for record in records):
            return None
        return lambda result: self.for_storage(by_id[result.record_id], result) if result.record_id in by_id else result

    # -- storing ------------------------------------------------------------------------------
    def protect(self, record: GenerationRecord) -> GenerationRecord:
        """The form of ``record`` to store (redacted + envelope); saves the new key first.

        The key store is written before the database so a committed record always has its
        key; a failed insert afterwards only leaves an unused key behind.
        """
        policy = self.policy
        assert policy is not None
        keys = self.keys
        subject_id = (record.variables or {}).get(policy.subject_field) if policy.subject_field else None
        if subject_id is not None and str(subject_id).strip():
            subject, source = keys.subject_ref(str(subject_id).strip()), f"field {policy.subject_field}"
        else:
            subject, source = keys.subject_ref("record:" + record.id), "record (no subject field)"
        redactor = Redactor(policy, keys.keyed_hash)
        redactor.mark_fields(record.variables)
        klass = policy.retention_class(record.use_case)
        count, unit = klass.period
        clear = {
            "prompt": record.prompt,
            "template": record.template,
            "variables": record.variables,
            "messages": record.messages,
            "system": record.system,
            "input_ids": record.input_ids,
            "output_ids": record.output_ids,
            "output_text": record.output_text,
            "top_tokens": [[[a.token_id, a.token] for a in step] for step in record.top_logprobs],
        }
        tags = dict(record.tags)
        if tags.get(CONTENT_TAG) is not None:
            clear["tags_content"] = tags[CONTENT_TAG]
        data_key = keys.new_record_key(subject, record.id)
        stored = dataclasses.replace(
            record,
            prompt=redactor.text(record.prompt, "prompt") or "",
            template=redactor.text(record.template, "template"),
            variables=None
            if record.variables is None
            else {k: redactor.value(v, f"variables.{k}") for k, v in record.variables.items()},
            messages=None
            if record.messages is None
            else [
                {**m, "content": redactor.text(m.get("content"), f"messages[{i}]")}
                for i, m in enumerate(record.messages)
            ],
            system=redactor.text(record.system, "system"),
            input_ids=[SEALED_ID] * len(record.input_ids),
            output_ids=[SEALED_ID] * len(record.output_ids),
            output_text=redactor.text(record.output_text, "output_text") or "",
            top_logprobs=[
                [TopAlternative(SEALED_ID, SEALED_TOKEN, a.logprob) for a in step] for step in record.top_logprobs
            ],
            tags={
                **tags,
                # after the prompt and output, so placeholders number the same as without client content
                **(
                    {CONTENT_TAG: _redact_content(redactor, tags[CONTENT_TAG], f"tags.{CONTENT_TAG}")}
                    if "tags_content" in clear
                    else {}
                ),
                "privacy": {
                    "sealed": True,
                    "subject": subject,
                    "subject_source": source,
                    "retention_class": klass.name,
                    "minimum": klass.minimum,
                    "retain_until": retain_until(record.started_at, count, unit),
                    "policy": policy.summary(),
                    "detected": redactor.kinds(),
                    "findings": [f.to_dict() for f in redactor.findings],
                    "envelope": seal(data_key, record.id, "generation", clear),
                },
            },
        )
        keys.save()
        return stored

    # -- opening ------------------------------------------------------------------------------
    def record_key(self, record_id: str, tags: dict[str, Any]) -> bytes:
        """The data key of a sealed record; raises :class:`KeyMissing` if absent or erased."""
        info = privacy_of(tags)
        assert info is not None
        return self.keys.record_key(info["subject"], record_id)

    def open_record(self, stored: GenerationRecord) -> GenerationRecord:
        clear = open_sealed(self.record_key(stored.id, stored.tags), stored.id, privacy_of(stored.tags)["envelope"])
        tops = [
            [TopAlternative(int(tid), token, alt.logprob) for (tid, token), alt in zip(step_tokens, step)]
            for step_tokens, step in zip(clear.pop("top_tokens"), stored.top_logprobs)
        ]
        tags = dict(stored.tags)
        if "tags_content" in clear:
            tags[CONTENT_TAG] = clear.pop("tags_content")
        return dataclasses.replace(stored, top_logprobs=tops, tags=tags, **clear)

    def _sealed_extra(
        self, record_id: str, tags: dict[str, Any], field: str, value: Any, extra: dict[str, Any]
    ) -> dict[str, Any]:
        envelope = seal(self.record_key(record_id, tags), record_id, field, value)
        return {**extra, "sealed": {"subject": privacy_of(tags)["subject"], "envelope": envelope}}

    def _open_extra(self, record_id: str, tags: dict[str, Any], extra: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        sealed = extra["sealed"]
        value = open_sealed(self.keys.record_key(sealed["subject"], record_id), record_id, sealed["envelope"])
        return value, extra

    def seal_explanation(self, record: GenerationRecord, result):
        """A copy to store: prompt-token and output-token labels replaced, the clear ones sealed."""
        labels = {"features": list(result.features), "output_tokens": list(result.output_tokens)}
        features = (
            [f"[TOKEN_{i + 1}]" for i in range(len(result.features))]
            if result.granularity == "token"
            else list(result.features)
        )
        return dataclasses.replace(
            result,
            features=features,
            output_tokens=[f"[OUT_{i + 1}]" for i in range(len(result.output_tokens))],
            extra=self._sealed_extra(record.id, record.tags, f"explanation/{result.id}", labels, result.extra),
        )

    def open_explanation(self, result):
        labels, _ = self._open_extra(result.record_id, {}, result.extra)
        return dataclasses.replace(result, features=labels["features"], output_tokens=labels["output_tokens"])

    def seal_attention(self, record: GenerationRecord, result):
        return dataclasses.replace(
            result,
            tokens=[f"[TOKEN_{i + 1}]" for i in range(len(result.tokens))],
            extra=self._sealed_extra(
                record.id, record.tags, f"attention/{result.id}", list(result.tokens), result.extra
            ),
        )

    def open_attention(self, result):
        tokens, _ = self._open_extra(result.record_id, {}, result.extra)
        return dataclasses.replace(result, tokens=tokens)

    def seal_replay(self, record: GenerationRecord, result):
        """Replayed ids, text and divergence tokens are the output text again: sealed like it."""
        divergence = result.first_divergence
        texts = [k for k in REPLAY_TEXTS if k in result.extra]
        clear = {
            "replayed_output_ids": list(result.replayed_output_ids),
            "first_divergence": dataclasses.asdict(divergence) if divergence else None,
            **{k: result.extra[k] for k in texts},
        }
        hidden = None
        if divergence is not None:
            hidden = dataclasses.replace(
                divergence,
                recorded_token_id=SEALED_ID,
                recorded_token=SEALED_TOKEN,
                replayed_token_id=SEALED_ID,
                replayed_token=SEALED_TOKEN,
            )
        return dataclasses.replace(
            result,
            replayed_output_ids=[SEALED_ID] * len(result.replayed_output_ids),
            first_divergence=hidden,
            extra=self._sealed_extra(
                record.id,
                record.tags,
                f"replay/{result.id}",
                clear,
                {**result.extra, **dict.fromkeys(texts, SEALED_TOKEN)},
            ),
        )
