from audit import Auditor


def test_tiny_generation_round_trip(tiny_loaded, db_path):
    auditor = Auditor(db=db_path, model=tiny_loaded)
    record = auditor.generate(prompt="Income 42000, score 580. Approve?", max_new_tokens=6)
    again = auditor.get(record.id)
    assert again.output_ids == record.output_ids
    assert len(record.output_ids) == 6
