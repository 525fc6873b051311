"""The shapes of the outputs about evidence: records, explanations, attention, counterfactuals, fairness,
replays, batches, reports and CI checks."""

from __future__ import annotations

from .schema import BOOLEAN, INTEGER, NUMBER, OBJECT, STRING, Shape, array, fields, mapping, nullable

PROBABILITIES = mapping(NUMBER, "label")
MODEL_REF = fields(name=STRING, weights_sha256=STRING)

RECORD = fields(
    id=STRING,
    seq=INTEGER,
    schema_version=INTEGER,
    started_at=STRING,
    finished_at=STRING,
    duration_s=NUMBER,
    use_case=STRING,
    operator=STRING,
    prompt_kind=STRING,
    prompt=STRING,
    template=nullable(STRING),
    variables=nullable(OBJECT),
    messages=nullable(array(OBJECT)),
    system=nullable(STRING),
    add_special_tokens=BOOLEAN,
    input_ids=array(INTEGER),
    output_ids=array(INTEGER),
    output_text=STRING,
    finish_reason=STRING,
    token_logprobs=array(NUMBER),
    top_logprobs=array(array(fields(token_id=INTEGER, token=STRING, logprob=NUMBER))),
    generation_config=OBJECT,
    seed=INTEGER,
    model=OBJECT,
    environment=OBJECT,
    tags=OBJECT,
    decision=nullable(OBJECT),
)

BATCH = fields(
    kind=STRING,
    executor=STRING,
    workers=INTEGER,
    selected=INTEGER,
    already_done=INTEGER,
    skipped=mapping(STRING, "record id"),
    todo=INTEGER,
    stored=INTEGER,
    duplicates=INTEGER,
    retried=INTEGER,
    failures=mapping(STRING, "record id"),
    failed=INTEGER,
    warnings=mapping(array(STRING), "record id"),
    seconds=NUMBER,
    records_per_s=NUMBER,
    interrupted=BOOLEAN,
    stored_ids=array(STRING),
    per_worker=mapping(OBJECT, "worker"),
)

REPLAY = fields(
    record_id=STRING,
    replay_id=STRING,
    created_at=STRING,
    verdict=STRING,
    model_matches=BOOLEAN,
    model_match=OBJECT,
    allow_model_mismatch=BOOLEAN,
    environment_diff=OBJECT,
    first_divergence=nullable(OBJECT),
    max_logprob_diff=NUMBER,
    tolerance=NUMBER,
    seconds=NUMBER,
    decision=nullable(OBJECT),
)


SHAPES: tuple[Shape, ...] = (
    Shape("record", ("generate", "show"), "One generation record, as stored.", RECORD),
    Shape(
        "record-list",
        ("list",),
        "The records matching the filters, oldest first.",
        fields(
            records=array(
                fields(
                    seq=INTEGER,
                    id=STRING,
                    started_at=STRING,
                    use_case=STRING,
                    model=STRING,
                    input_tokens=INTEGER,
                    output_tokens=INTEGER,
                    output_text=STRING,
                    decision=nullable(STRING),
                )
            )
        ),
    ),
    Shape(
        "explanation",
        ("explain RECORD_ID",),
        "One stored explanation: a score per feature (`seq_attr`) and per feature and output token (`token_attr`).",
        fields(
            record_id=STRING,
            method=STRING,
            granularity=STRING,
            features=array(STRING),
            output_tokens=array(STRING),
            token_attr=array(array(NUMBER)),
            seq_attr=array(NUMBER),
            params=OBJECT,
            target=OBJECT,
            seconds=NUMBER,
        ),
    ),
    Shape(
        "batch",
        ("explain --all",),
        "What a batch did: `kind` is the work (`explanation`); `stored_ids` the new explanations.",
        BATCH,
    ),
    Shape(
        "attention",
        ("attention",),
        "One stored attention analysis: rollout, head importance, and the log-probability check against the record.",
        fields(
            id=STRING,
            record_id=STRING,
            created_at=STRING,
            tokens=array(STRING),
            n_input=INTEGER,
            n_output=INTEGER,
            layers=INTEGER,
            heads=INTEGER,
            rollout=array(array(NUMBER)),
            head_importance=nullable(array(array(NUMBER))),
            head_importance_method=nullable(STRING),
            per_head_stored=BOOLEAN,
            stored_bytes=INTEGER,
            logprob_max_diff=NUMBER,
            seconds=NUMBER,
        ),
    ),
    Shape(
        "counterfactual",
        ("counterfactual",),
        "Each alternative's label probabilities and whether it flips the recorded decision; "
        "`smallest_flip` is, per field, the index in `alternatives` of the first single change that flips it.",
        fields(
            id=STRING,
            record_id=STRING,
            created_at=STRING,
            labels=array(STRING),
            favourable=nullable(STRING),
            recorded_chosen=STRING,
            recorded_probabilities=PROBABILITIES,
            fields=mapping(array(STRING), "field"),
            pairs=BOOLEAN,
            alternatives=array(
                fields(
                    changes=mapping(STRING, "field"),
                    label_logprobs=PROBABILITIES,
                    probabilities=PROBABILITIES,
                    chosen=STRING,
                    flips=BOOLEAN,
                )
            ),
            smallest_flip=mapping(nullable(INTEGER), "field"),
            logprob_max_diff=NUMBER,
            model=MODEL_REF,
            seconds=NUMBER,
        ),
    ),
    Shape(
        "fairness",
        ("fairness",),
        "Protected-attribute reliance over the matching records: per swapped attribute the flip rate with its "
        "95% Wilson interval, the groups' favourable rates, the largest gap and the exact sign test.",
        fields(
            id=STRING,
            created_at=STRING,
            use_case=nullable(STRING),
            filters=OBJECT,
            swaps=mapping(OBJECT, "field"),
            records=INTEGER,
            attributes=array(
                fields(
                    field=STRING,
                    source=STRING,
                    note=STRING,
                    records=INTEGER,
                    flipped=INTEGER,
                    flip_rate=NUMBER,
                    flip_interval=array(NUMBER),
                    groups=array(OBJECT),
                    gap=nullable(NUMBER),
                    gap_groups=array(STRING),
                    test=nullable(OBJECT),
                    flips=array(OBJECT),
                )
            ),
            skipped=mapping(STRING, "record id"),
            warnings=array(STRING),
            logprob_max_diff=NUMBER,
            model=MODEL_REF,
            seconds=NUMBER,
        ),
    ),
    Shape("replay", ("replay RECORD_ID",), "One stored replay and its verdict.", REPLAY),
    Shape(
        "replay-batch",
        ("replay --all",),
        "The verdict counts, every replay stored by this run, and the batch summary (`kind` `replay`).",
        fields(counts=mapping(INTEGER, "verdict"), replays=array(REPLAY), summary=BATCH),
    ),
    Shape(
        "report",
        ("report",),
        "The written report and its logged SHA-256; `kind` is `dossier` (record ids given) or `summary`.",
        fields(
            kind=STRING,
            path=STRING,
            sha256=STRING,
            size_bytes=INTEGER,
            generated_at=STRING,
            record_ids=array(STRING),
            pdf=nullable(STRING),
            dossiers=array(STRING),
            report_id=STRING,
            seconds=NUMBER,
        ),
    ),
    Shape(
        "check",
        ("check",),
        "The CI suite's result: per case its metrics against their thresholds (a metric's `value` is null when "
        "it could not be computed).",
        fields(
            suite=STRING,
            passed=BOOLEAN,
            cases_total=INTEGER,
            cases_failed=INTEGER,
            seconds=NUMBER,
            cases=array(
                fields(
                    name=STRING,
                    passed=BOOLEAN,
                    failures=array(STRING),
                    metrics=array(
                        fields(
                            name=STRING,
                            value=nullable(NUMBER),
                            threshold=nullable(NUMBER),
                            kind=STRING,
                            passed=BOOLEAN,
                            detail=STRING,
                        )
                    ),
                    notes=array(STRING),
                    output_text=STRING,
                    seconds=NUMBER,
                    timings=mapping(NUMBER, "stage"),
                )
            ),
        ),
    ),
    Shape(
        "monitor",
        ("monitor",),
        "Decisions over time: per window and group the label counts, margins, reasons, replay verdicts, "
        "sign-offs and flips, the changes tested against the reference, and the alerts; `format` names this "
        "layout, which `monitor --baseline` reads back.",
        fields(
            format=STRING,
            tests=fields(alpha=NUMBER, psi_max=NUMBER),
            reference=OBJECT,
            windows=array(fields(since=STRING, until=STRING, groups=array(OBJECT), changes=array(OBJECT))),
            rules=INTEGER,
            alerts=array(OBJECT),
            notes=array(STRING),
        ),
    ),
)
