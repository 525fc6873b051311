import time
import uuid

from audit.ids import uuid7


def test_uuid7_layout_and_time_order():
    first = uuid.UUID(uuid7(1_700_000_000_000))
    later = uuid.UUID(uuid7(1_700_000_000_001))
    assert first.version == 7
    assert first.variant == uuid.RFC_4122
    assert first.int >> 80 == 1_700_000_000_000
    assert str(first) < str(later)


def test_uuid7_default_time_is_now_and_ids_are_unique():
    now_ms = int(time.time() * 1000)
    ids = {uuid7() for _ in range(1000)}
    assert len(ids) == 1000
    assert abs((uuid.UUID(next(iter(ids))).int >> 80) - now_ms) < 5_000
