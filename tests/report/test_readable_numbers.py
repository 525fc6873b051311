"""Readable numbers: field names keep the template's spelling, label token ids come with their text."""

from __future__ import annotations

from pathlib import Path

from audit.report.render import TEMPLATES, environment, upfirst


def test_field_names_keep_their_spelling_in_every_template():
    assert upfirst("LTV ratio") == "LTV ratio" and upfirst("credit score") == "Credit score" and upfirst("") == ""
    assert environment().from_string("{{ 'LTV'|upfirst }} {{ 'DSCR cover'|upfirst }}").render() == "LTV DSCR cover"
    # Jinja's capitalize lower-cases the rest of the text ("Ltv"): no template may use it
    used = [p.name for p in Path(TEMPLATES).rglob("*.j2") if "|capitalize" in p.read_text(encoding="utf-8")]
    assert used == []


def test_label_token_ids_are_shown_with_their_text(tiny_loaded, tmp_path):
    from audit import Auditor
    from audit.report.decision_view import decision_outcome

    auditor = Auditor(db=tmp_path / "a.db", model=tiny_loaded)
    record = auditor.generate(
        prompt="Approve?", max_new_tokens=3, decision={"labels": ["APPROVE", "DECLINE"], "favourable": "APPROVE"}
    )
    tok = tiny_loaded.tokenizer
    outcome = decision_outcome(record)
    for label, _, _, _, ids in outcome.rows:
        expected = [tok.decode([t]) for t in record.decision.label_token_ids[label]]
        assert record.decision.label_tokens[label] == expected
        for t, text in zip(record.decision.label_token_ids[label], expected):
            assert f'{t} "{text}"' in ids
