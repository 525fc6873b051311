"""The shapes of the outputs about the log and its people: verification, checkpoints, keys, trust, proofs,
merges, sign-offs, users, API keys, the pending journal, holds, retention and erasure."""

from __future__ import annotations

from .schema import BOOLEAN, INTEGER, NUMBER, OBJECT, STRING, Shape, array, fields, mapping, nullable

HOLD = fields(scope=STRING, target=STRING, reason=STRING, at=STRING, operator=STRING)


SHAPES: tuple[Shape, ...] = (
    Shape(
        "verify",
        ("verify",),
        "What verification found: `ok`, the `problems` (first one first), and what the signatures cover.",
        fields(
            ok=BOOLEAN,
            database=STRING,
            events=INTEGER,
            projected=INTEGER,
            rows=INTEGER,
            blobs=INTEGER,
            checkpoints=INTEGER,
            signed_size=INTEGER,
            pinned_size=INTEGER,
            covered_size=INTEGER,
            unsigned_events=INTEGER,
            root_hash=nullable(STRING),
            origin=nullable(STRING),
            key_id=nullable(STRING),
            key_pinned=BOOLEAN,
            pin_source=STRING,
            pin_warning=nullable(STRING),
            unpinned_because=nullable(STRING),
            require_signed=BOOLEAN,
            witnessed_size=INTEGER,
            witnesses=array(STRING),
            witness_checked=BOOLEAN,
            problems=array(fields(check=STRING, seq=nullable(INTEGER), what=STRING)),
            covers=array(
                fields(checkpoint_id=INTEGER, tree_size=INTEGER, key_id=STRING, signed_at=STRING, pinned=BOOLEAN)
            ),
            against=array(OBJECT),
            seconds=NUMBER,
        ),
    ),
    Shape(
        "checkpoint",
        ("checkpoint",),
        "The signed checkpoint just made.",
        fields(
            id=INTEGER,
            tree_size=INTEGER,
            root_hash=STRING,
            signed_at=STRING,
            key_id=STRING,
            public_key=STRING,
            signature=STRING,
            key_file=STRING,
            export=nullable(STRING),
            witnessed=nullable(fields(witness=STRING, tree_size=INTEGER, old_size=INTEGER, note=STRING)),
        ),
    ),
    Shape(
        "key",
        ("key",),
        "Which signing key this database uses and where it lies (never the private key).",
        fields(
            path=STRING,
            origin=STRING,
            exists=BOOLEAN,
            key_id=nullable(STRING),
            public_key_pem=nullable(STRING),
            note_verifier_key=nullable(STRING),
        ),
    ),
    Shape(
        "rotate-key",
        ("rotate-key",),
        "The key transition: every value but `checkpoint` is a string (the transition's event seq too).",
        fields(
            old_key_id=STRING,
            new_key_id=STRING,
            new_key_file=STRING,
            transition_seq=STRING,
            retired_key_file=STRING,
            checkpoint=OBJECT,
        ),
    ),
    Shape(
        "trust-list",
        ("trust list",),
        "The trust file and the public keys pinned in it.",
        fields(
            trust_file=STRING,
            keys=array(fields(key_id=STRING, public_hex=STRING, name=STRING, origin=nullable(STRING))),
        ),
    ),
    Shape(
        "proof-check",
        ("verify-proof",),
        "What an offline proof check found.",
        fields(
            ok=BOOLEAN,
            record_id=STRING,
            events=INTEGER,
            tree_size=INTEGER,
            key_id=STRING,
            key_pinned=BOOLEAN,
            problems=array(STRING),
        ),
    ),
    Shape(
        "merge",
        ("merge",),
        "Per source what was added and skipped, and the archive's verification.",
        fields(
            archive=STRING,
            sources=array(
                fields(
                    path=STRING,
                    host=STRING,
                    events=INTEGER,
                    root_hash=STRING,
                    merged_up_to=INTEGER,
                    trust=STRING,
                    added=mapping(INTEGER, "event kind"),
                    skipped=mapping(INTEGER, "event kind"),
                )
            ),
            archive_verified=BOOLEAN,
            archive_events=INTEGER,
            archive_root_hash=STRING,
            archive_key_id=nullable(STRING),
        ),
    ),
    Shape(
        "sign-off",
        ("review",),
        "The sign-off as stored and logged.",
        fields(
            id=STRING,
            record_id=STRING,
            record_sha256=STRING,
            reviewer=STRING,
            role=STRING,
            action=STRING,
            decision=nullable(STRING),
            rationale=STRING,
            via=STRING,
            created_at=STRING,
        ),
    ),
    Shape(
        "user-list",
        ("users list",),
        "The workspace's users (never a password or token).",
        fields(
            users=array(
                fields(
                    name=STRING,
                    role=STRING,
                    disabled=BOOLEAN,
                    since=STRING,
                    changed=STRING,
                    has_token=BOOLEAN,
                    locked_until=nullable(STRING),
                    locked_from=array(STRING),
                )
            )
        ),
    ),
    Shape(
        "api-key-list",
        ("keys list",),
        "The API keys of `serve` and `proxy` (only each key's first characters).",
        fields(
            keys=array(
                fields(
                    name=STRING,
                    status=STRING,
                    key_prefix=nullable(STRING),
                    added_at=STRING,
                    added_by=STRING,
                    revoked_at=nullable(STRING),
                    revoked_by=nullable(STRING),
                )
            )
        ),
    ),
    Shape(
        "pending",
        ("append-pending",),
        "What the pending journal held, each item appended or found already stored (empty: nothing pending).",
        fields(appended=array(fields(file=STRING, kind=STRING, id=STRING, status=STRING))),
    ),
    Shape("hold", ("hold", "release"), "The legal hold placed or released.", HOLD),
    Shape("hold-list", ("hold --list",), "The legal holds in force.", fields(holds=array(HOLD))),
    Shape(
        "retention",
        ("retention",),
        "Sealed records by retention state, and what `--apply` erased.",
        fields(
            counts=mapping(INTEGER, "state"),
            erased=array(STRING),
            records=array(
                fields(
                    record_id=STRING,
                    subject=nullable(STRING),
                    use_case=STRING,
                    started_at=STRING,
                    retention_class=STRING,
                    retain_until=STRING,
                    state=STRING,
                    detail=STRING,
                )
            ),
        ),
    ),
    Shape("erasure", ("erase",), "The records whose keys were destroyed.", fields(erased=array(STRING), reason=STRING)),
    Shape(
        "pack-check",
        ("verify-pack",),
        "What an offline evidence-pack check proved and what it did not (exit 0 proven, 1 tampered or incomplete).",
        fields(
            pack=STRING,
            ok=BOOLEAN,
            problems=array(fields(check=STRING, problem=STRING)),
            proven=array(STRING),
            not_proven=array(STRING),
        ),
    ),
    Shape(
        "pack-check-refused",
        ("verify-pack",),
        "A pack that could not be checked at all (exit 2): `ok` is null and `cannot_check` says why.",
        fields(ok={"type": "null"}, cannot_check=STRING),
    ),
    Shape(
        "otel-export",
        ("otel-export",),
        "Spans sent to the OTLP endpoint, one per record and per fairness run (exit 1 when some were dropped).",
        fields(endpoint=STRING, records=INTEGER, fairness_runs=INTEGER, sent=INTEGER, dropped=INTEGER),
    ),
)
