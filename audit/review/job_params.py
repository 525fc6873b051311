"""A job's parameters, checked against its record before anything is logged or queued.

What is logged with ``job-requested`` and what the worker runs are exactly what this returns
(defaults filled in), and two requests that return the same parameters for the same record and
kind are the same job (:class:`~audit.review.jobs.ReviewJobs` answers the second with the first
while it is queued or running).
"""

from __future__ import annotations

from typing import Any

from ..errors import UserError
from ..record import GenerationRecord
from .errors import BadRequest

KINDS = ("explain", "attention", "replay", "counterfactual")
MAX_VARY = 2000  # characters of a counterfactual's alternatives


def job_params(kind: str, params: dict[str, Any], record: GenerationRecord) -> dict[str, Any]:
    """A job's parameters, checked against its record, with the defaults filled in (what is logged and run)."""
    if kind == "explain":
        from ..attribution.request import check_request

        unknown = sorted(set(params) - {"method", "granularity"})
        if unknown:
            raise BadRequest(f"unknown explain parameter(s) {', '.join(unknown)}: use method and granularity")
        method = str(params.get("method") or "feature-ablation")
        granularity = str(params.get("granularity") or ("field" if record.template else "token"))
        try:
            check_request(method, granularity, {}).check_record(record)
        except UserError as exc:
            raise BadRequest(str(exc)) from None
        return {"method": method, "granularity": granularity}
    if kind == "attention":
        unknown = sorted(set(params) - {"heads"})
        if unknown:
            raise BadRequest(f"unknown attention parameter(s) {', '.join(unknown)}: use heads")
        return {"heads": params.get("heads") in (True, "1", "true", "on")}
    if kind == "counterfactual":
        return {"vary": _vary(params, record)}
    if params:
        raise BadRequest("a replay takes no parameters")
    return {}


def _vary(params: dict[str, Any], record: GenerationRecord) -> dict[str, list[str]]:
    """``vary``: ``FIELD=VALUES`` lines (or a list of them), each field one of the record's template fields."""
    from ..counterfactual.values import parse_variations

    unknown = sorted(set(params) - {"vary"})
    if unknown:
        raise BadRequest(f"unknown counterfactual parameter(s) {', '.join(unknown)}: use vary")
    if record.decision is None or record.prompt_kind != "template" or not record.variables:
        raise BadRequest("a counterfactual changes the template fields of a decision: this record has none")
    given = params.get("vary")
    if isinstance(given, str):
        if len(given) > MAX_VARY:
            raise BadRequest(f"the alternatives are {len(given)} characters long: keep them under {MAX_VARY}")
        given = [line.strip() for line in given.replace(";", "\n").splitlines() if line.strip()]
    if not isinstance(given, list) or not given or not all(isinstance(v, str) for v in given):
        raise BadRequest(
            "name the alternatives as FIELD=VALUES, one field a line, e.g. "
            f"{next(iter(record.variables))}=VALUE1,VALUE2 (this template's fields: {', '.join(record.variables)})"
        )
    try:
        variations = parse_variations(given)
    except UserError as exc:
        raise BadRequest(str(exc).replace("--vary ", "")) from None
    strangers = [v.field for v in variations if v.field not in record.variables]
    if strangers:
        raise BadRequest(
            f"{', '.join(strangers)} is not a field of this record's template: use {', '.join(record.variables)}"
        )
    return {v.field: list(v.values) for v in variations}
