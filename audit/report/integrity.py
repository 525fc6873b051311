"""What a report may say about integrity: only what verification proved, in one readable sentence each.

The report runs ``verify`` once (the Auditor's, pinned to the trust file) and then states,
for the whole log (summaries) or for each piece of a dossier's evidence, exactly what covers
it: "signed by key K in checkpoint C (tree size S), verified against the pinned key", or
"recorded, but not yet covered by a signed checkpoint", or the first problem found. The box
says "verified" only when every piece shown is covered by a checkpoint signed by a pinned key
and nothing is wrong; a signature checked only against the key the database records about
itself (unpinned) is reported as a signature, never as verification.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .evidence import Evidence, IntegrityStatus

PIN_HINT = "pin the signer's public key with `llm-audit trust add KEY.pub.pem`"


@dataclass
class Verification:
    """The outcome of running ``verify`` for a report: a result, or why it could not run."""

    result: Any = None  # audit.integrity.verify.VerifyResult
    error: str | None = None


def run_verification(verify: Callable[[], Any] | None) -> Verification | None:
    """Run ``verify`` once; never let it stop a report (None: not asked to verify)."""
    if verify is None:
        return None
    try:
        return Verification(verify())
    except Exception as exc:  # noqa: BLE001 - a report must still say what happened
        return Verification(error=f"{type(exc).__name__}: {exc}")


def _not_verified(check: Verification | None) -> IntegrityStatus | None:
    """The status when nothing at all can be vouched for; None when verification ran and found nothing wrong."""
    if check is None:
        return IntegrityStatus(
            "unavailable", "The audit log was not verified for this report, so nothing in it is verified."
        )
    if check.error is not None:
        return IntegrityStatus(
            "failed", f"Verification could not run ({check.error}), so nothing in this report is verified."
        )
    result = check.result
    if not result.ok:
        more = f" ({len(result.problems) - 1} further problems)" if len(result.problems) > 1 else ""
        if not result.tampered:  # a requirement (signatures, witnesses) not met: nothing is proven altered
            return IntegrityStatus(
                "failed",
                f"The audit log is NOT PROVEN to the standard required, so nothing in this report is verified "
                f"(nothing was found altered). First gap: {result.first_problem}{more}.",
            )
        return IntegrityStatus(
            "failed",
            f"The audit log FAILED verification, so nothing in this report is verified. First problem: {result.first_problem}{more}.",
        )
    return None


def statement(result: Any, seq: int | None) -> str:
    """What covers the event at ``seq``, in one sentence."""
    if seq is None:
        return "not in the audit log: no event records it, so it is not verified"
    cover = result.cover_of(seq)
    if cover is not None and result.key_pinned:
        return (
            f"logged at seq {seq}; signed by key {cover.key_id} in checkpoint {cover.checkpoint_id} (tree size "
            f"{cover.tree_size}, {cover.signed_at[:19]}Z), verified against the pinned key ({result.pin_source})"
        )
    if cover is not None:
        return (
            f"logged at seq {seq}; signed by key {cover.key_id} in checkpoint {cover.checkpoint_id} (tree size "
            f"{cover.tree_size}), but that key is not pinned, so this is not verified ({PIN_HINT})"
        )
    if result.key_pinned and any(c.tree_size >= seq for c in result.covers):
        return f"logged at seq {seq}; signed only by a key that is not pinned, so it is not verified"
    return f"recorded at seq {seq}, but not yet covered by a signed checkpoint, so it is not verified"


def _unwitnessed(result: Any) -> str:
    """The newest witnessed size and its witnesses, or what a writer of the database could still do without one."""
    size = getattr(result, "witnessed_size", 0)
    if size:
        later = result.events - size
        rest = (
            f"; the {later} events after it are not yet witnessed, so a writer of the database could still remove them"
            if later
            else ", the whole log"
        )
        return f" Witness {', '.join(result.witnesses)} cosigned the log up to seq {size}{rest}."
    if any(getattr(a, "ok", False) for a in getattr(result, "against", ()) or ()):
        return ""
    return (
        " No witness has cosigned this log (nor was a checkpoint copy kept elsewhere checked): a writer of the "
        "database could truncate it to an earlier checkpoint."
    )


def evidence_status(check: Verification | None, evidence: Evidence) -> IntegrityStatus:
    """The dossier's integrity box: one line per piece of evidence, "verified" only if every one is."""
    failed = _not_verified(check)
    if failed is not None:
        return failed
    result = check.result  # type: ignore[union-attr]
    items = [
        (
            item.label,
            statement(result, item.seq) + (f"; but it was {item.caveat}, so it is not verified" if item.caveat else ""),
        )
        for item in evidence.logged_items
    ]
    proven = [
        result.key_pinned and item.seq is not None and result.cover_of(item.seq) is not None and not item.caveat
        for item in evidence.logged_items
    ]
    if proven and all(proven):
        return IntegrityStatus(
            "verified",
            "Every piece of evidence in this dossier is covered by a checkpoint signed by a pinned key, and the whole "
            f"audit log verified intact when this report was generated ({result.pin_source})." + _unwitnessed(result),
            items,
        )
    caveats = [item for item in evidence.logged_items if item.caveat]
    why = (
        "no signing key is pinned"
        if not result.key_pinned
        else f"it was {caveats[0].caveat}"
        if caveats
        else "some of it is not yet covered by a pinned checkpoint"
    )
    return IntegrityStatus(
        "unverified",
        f"The audit log was checked and no tampering was found, but this dossier is NOT verified: {why}. "
        "Each piece of evidence below says what covers it.",
        items,
    )


def log_status(check: Verification | None, seqs: list[int | None] | None = None) -> IntegrityStatus:
    """The summary's integrity box: the log as a whole, and whether the records it lists (their events ``seqs``) are covered."""
    failed = _not_verified(check)
    if failed is not None:
        return failed
    result = check.result  # type: ignore[union-attr]
    if not result.key_pinned:
        return IntegrityStatus(
            "unverified",
            "The audit log was checked and no tampering was found, but it is NOT verified: its checkpoints were checked "
            f"only against the key the database records about itself ({PIN_HINT}).",
        )
    listed = seqs or []
    covered = sum(1 for seq in listed if seq is not None and result.cover_of(seq) is not None)
    later = result.unsigned_events
    after = (
        f" The {later} events logged after seq {result.covered_size} (later logins, sign-offs, findings and other "
        f"records{', none of them one of these records' if covered == len(listed) else ''}) are not yet covered "
        "by a checkpoint, so they are not verified."
        if later
        else ""
    )
    upto = f"the audit log verified intact against the pinned key up to seq {result.pinned_size} when this report was generated ({result.pin_source})"
    if not listed:
        if later == 0:
            return IntegrityStatus(
                "verified",
                f"The whole audit log ({result.events} events) is covered by checkpoints signed by a pinned key and verified "
                f"intact when this report was generated ({result.pin_source})." + _unwitnessed(result),
            )
        return IntegrityStatus("unverified", f"This summary lists no records; {upto}.{after}")
    if covered == len(listed):
        return IntegrityStatus(
            "verified",
            f"Every record in this summary is covered by a checkpoint signed by a pinned key ({covered} of "
            f"{len(listed)}), and {upto}.{after}" + _unwitnessed(result),
        )
    return IntegrityStatus(
        "unverified",
        f"{covered} of the {len(listed)} records in this summary are covered by a checkpoint signed by a pinned key "
        f"({upto}); the other {len(listed) - covered} are recorded but not yet covered by a signed checkpoint, so they "
        f"are not verified.{after}",
    )
