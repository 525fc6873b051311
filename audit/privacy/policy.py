"""The redaction policy: a TOML file a data-protection officer can read and sign off.

```toml
detectors = ["email", "phone", "iban", "card", "ssn", "dob"]   # which detectors run
subject_field = "customer_id"                                   # template field naming the data subject

[actions]            # per type: mask ([IBAN_1]), hash ([IBAN#1f0c9a2b3d]) or encrypt ([IBAN_1], clear with the key)
iban = "hash"

[fields]             # template fields that are personal data, with the type their placeholder names
applicant_name = "name"

[retention]
default = "standard"
[retention.classes.credit-decision]
minimum = "25 months"
use_cases = ["credit-decision"]

[access]             # which workspace roles may see sealed content in clear (each viewing is logged); default none
clear_roles = ["validator", "admin"]
```
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserError
from .detectors import DETECTORS

ACTIONS = ("mask", "hash", "encrypt")
_PERIOD = re.compile(r"^\s*(\d+)\s*(day|month|year)s?\s*$")
_TYPE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class RetentionClass:
    name: str
    minimum: str  # "25 months": the earliest a record of this class may be erased
    use_cases: tuple[str, ...] = ()

    @property
    def period(self) -> tuple[int, str]:
        m = _PERIOD.match(self.minimum)
        assert m is not None  # checked on load
        return int(m.group(1)), m.group(2)


@dataclass(frozen=True)
class Policy:
    detectors: tuple[str, ...]
    actions: dict[str, str]
    fields: dict[str, str]  # template field -> type
    subject_field: str | None
    retention: dict[str, RetentionClass]
    default_retention: str
    demo_cases: tuple[Path, ...] = ()
    source: str = "<policy>"
    sha256: str = ""
    clear_roles: tuple[str, ...] = ()  # workspace roles shown sealed content in clear (logged each time)

    def action(self, kind: str) -> str:
        return self.actions.get(kind, "mask")

    def retention_class(self, use_case: str) -> RetentionClass:
        for klass in self.retention.values():
            if use_case in klass.use_cases:
                return klass
        return self.retention[self.default_retention]

    def summary(self) -> dict[str, Any]:
        """What a record notes about the policy it was stored under (no values, only names)."""
        return {"source": Path(self.source).name, "sha256": self.sha256, "detectors": list(self.detectors)}


def _fail(source: str, problem: str) -> UserError:
    return UserError(f"policy {source}: {problem}")


def parse_policy(text: str, source: str = "<policy>", base: Path | None = None) -> Policy:
    import hashlib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _fail(source, f"not valid TOML ({exc})") from None
    unknown = sorted(set(data) - {"detectors", "actions", "fields", "subject_field", "retention", "demo", "access"})
    if unknown:
        raise _fail(
            source,
            f"unknown key(s) {', '.join(unknown)}: use detectors, actions, fields, subject_field, retention, demo, access",
        )
    detectors = tuple(data.get("detectors", list(DETECTORS)))
    bad = [d for d in detectors if d not in DETECTORS]
    if bad:
        raise _fail(source, f"unknown detector(s) {', '.join(map(str, bad))}: choose from {', '.join(DETECTORS)}")
    fields = {str(k): str(v).lower() for k, v in dict(data.get("fields", {})).items()}
    for name, kind in fields.items():
        if not _TYPE.match(kind):
            raise _fail(source, f"field {name!r} has type {kind!r}: use a lower-case word such as name or address")
    actions = {str(k): str(v) for k, v in dict(data.get("actions", {})).items()}
    for kind, action in actions.items():
        if action not in ACTIONS:
            raise _fail(source, f"action {action!r} for {kind!r} is not one of {', '.join(ACTIONS)}")
    subject = data.get("subject_field")
    if subject is not None and not isinstance(subject, str):
        raise _fail(source, "subject_field must be the name of a template field")
    retention_data = dict(data.get("retention", {}))
    classes: dict[str, RetentionClass] = {}
    for name, spec in dict(retention_data.get("classes", {})).items():
        minimum = str(dict(spec).get("minimum", ""))
        if not _PERIOD.match(minimum):
            raise _fail(
                source,
                f'retention class {name!r} has minimum {minimum!r}: write e.g. "25 months", "6 months", "7 years"',
            )
        classes[name] = RetentionClass(name, minimum.strip(), tuple(str(u) for u in dict(spec).get("use_cases", [])))
    default = str(retention_data.get("default", "standard"))
    if default not in classes:
        if retention_data.get("default") is not None:
            raise _fail(source, f"default retention class {default!r} is not defined under [retention.classes]")
        classes[default] = RetentionClass(default, "6 months")  # EU AI Act Art. 19: logs kept at least six months
    cases = tuple((base or Path(".")) / str(c) for c in dict(data.get("demo", {})).get("cases", []))
    clear_roles = tuple(str(r) for r in dict(data.get("access", {})).get("clear_roles", []))
    from ..review.roles import ROLES

    bad_roles = [r for r in clear_roles if r not in ROLES]
    if bad_roles:
        raise _fail(source, f"[access] clear_roles has unknown role(s) {', '.join(bad_roles)}: use {', '.join(ROLES)}")
    digest = hashlib.sha256(text.encode()).hexdigest()
    return Policy(detectors, actions, fields, subject, classes, default, cases, source, digest, clear_roles)


def load_policy(path: str | Path) -> Policy:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(
            f"cannot read policy {path}: {exc.strerror}: pass --policy with an existing TOML file"
        ) from None
    return parse_policy(text, str(path), path.parent)
