"""Each PII detector on true positives and near-misses; policy, key store and sealing units."""

from __future__ import annotations

import json
import os
from datetime import UTC, date
from pathlib import Path

import pytest

from audit.errors import UserError
from audit.privacy.detectors import (
    CardDetector,
    DateOfBirthDetector,
    EmailDetector,
    IbanDetector,
    PhoneDetector,
    SsnDetector,
    detect,
    iban_valid,
    luhn_valid,
    ssn_valid,
)
from audit.privacy.keystore import KeyMissing, KeyStore
from audit.privacy.policy import parse_policy
from audit.privacy.redaction import Redactor
from audit.privacy.retention import add_period, retain_until
from audit.privacy.sealing import SealBroken, open_sealed, seal

DATA = Path(__file__).resolve().parents[1] / "data" / "pii_labelled.jsonl"


def texts(detector, text):
    return [s.text for s in detector.find(text)]


def test_iban_checksum_accepts_valid_and_rejects_one_digit_off():
    assert iban_valid("DE89 3704 0044 0532 0130 00") and iban_valid("GB82WEST12345698765432")
    assert not iban_valid("DE89 3704 0044 0532 0130 01")  # mod 97 fails
    assert not iban_valid("DE89370400440532013")  # wrong length for DE
    assert texts(IbanDetector(), "to NL91ABNA0417164300 or NL91ABNA0417164301") == ["NL91ABNA0417164300"]


def test_card_needs_luhn_and_a_network():
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert texts(CardDetector(), "card 4111 1111 1111 1111, order 4111 1111 1111 1112") == ["4111 1111 1111 1111"]
    assert texts(CardDetector(), "batch 9999 9999 9999 9995") == []  # Luhn-valid, no network
    assert texts(CardDetector(), "Amex 378282246310005") == ["378282246310005"]
    assert texts(CardDetector(), "mixed 4111 1111-1111 1111") == []


def test_ssn_area_group_serial_rules():
    assert ssn_valid("219456789")
    for bad in ("000123456", "666456789", "912701234", "219006789", "219450000", "078051120"):
        assert not ssn_valid(bad), bad
    assert texts(SsnDetector(), "SSN 219-45-6789, not 666-45-6789, part 123456789") == ["219-45-6789"]
    assert texts(SsnDetector(), "SSN: 401557812 verified") == ["401557812"]


def test_email_and_phone_true_and_false_positives():
    assert texts(EmailDetector(), "write to jane.doe@example.com, not john..doe@example.com or @desk") == [
        "jane.doe@example.com"
    ]
    assert texts(PhoneDetector(), "call (212) 555-0134 or +44 20 7946 0958") == ["(212) 555-0134", "+44 20 7946 0958"]
    assert texts(PhoneDetector(), "order no. 212-555-0134, amount 1,250,000, account 1234567890") == []


def test_dates_are_birth_dates_only_next_to_a_birth_keyword_and_real():
    dob = DateOfBirthDetector(today=date(2026, 1, 1))
    assert texts(dob, "Date of birth: 1984-03-12, applied 2024-01-05") == ["1984-03-12"]
    assert texts(dob, "Born on 12 March 1985") == ["12 March 1985"]
    assert texts(dob, "DOB: 1979-02-30") == []  # not a calendar date
    assert texts(dob, "born 2030-01-01") == []  # in the future
    assert texts(dob, "The loan matures on 12 March 2031") == []


def test_labelled_set_has_no_false_negatives_and_few_false_positives():
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    assert len(rows) >= 60
    fp = fn = 0
    for row in rows:
        found = [(s.detector, s.text) for s in detect(row["text"])]
        truth = [(k, v) for k, vs in row["pii"].items() for v in vs]
        fn += sum(t not in found for t in truth)
        fp += sum(f not in truth for f in found)
    assert fn == 0 and fp <= 1  # the one: 012-345-6789 read as a national number (see docs)


def test_policy_refuses_unknown_detector_action_and_period():
    for text, words in (
        ('detectors = ["iban", "passport"]', "unknown detector"),
        ('[actions]\niban = "shred"', "not one of"),
        ('[retention.classes.x]\nminimum = "soon"', "25 months"),
        ('colour = "red"', "unknown key"),
    ):
        with pytest.raises(UserError, match=words):
            parse_policy(text, "p.toml")
    policy = parse_policy('[retention.classes.credit]\nminimum = "25 months"\nuse_cases = ["credit-decision"]')
    assert policy.retention_class("credit-decision").name == "credit"
    assert policy.retention_class("other").minimum == "6 months"


def test_labelled_identifiers_are_masked_even_when_they_fail_validation():
    # Validation decides unlabelled matches only: a labelled specimen SSN, a mistyped IBAN, a non-Luhn card are masked.
    assert texts(SsnDetector(), "SSN 078-05-1120 on the form") == ["078-05-1120"]
    assert texts(SsnDetector(), "social security number: 000-12-3456") == ["000-12-3456"]
    assert texts(SsnDetector(), "SSN: 219099999") == ["219099999"]
    assert texts(SsnDetector(), "wallet card 078-05-1120 (advertising specimen)") == []  # unlabelled: validation
    assert texts(IbanDetector(), "IBAN: DE89 3704 0044 0532 0130 01 (typo)") == ["DE89 3704 0044 0532 0130 01"]
    assert texts(IbanDetector(), "code DE89 3704 0044 0532 0130 01") == []
    assert texts(CardDetector(), "card number 4111 1111 1111 1112 declined") == ["4111 1111 1111 1112"]
    assert texts(CardDetector(), "credit card: 1234567890123") == ["1234567890123"]
    assert texts(CardDetector(), "order 4111 1111 1111 1112 shipped") == []
    policy = parse_policy('[actions]\nssn = "mask"')
    text = Redactor(policy, lambda kind, value: "h").text("Applicant SSN 078-05-1120, income 42,000.", "prompt")
    assert "078-05-1120" not in text and "1120" not in text


def test_redactor_is_consistent_and_hash_links_equal_values():
    policy = parse_policy('[actions]\niban = "hash"\n[fields]\napplicant = "name"')
    redactor = Redactor(policy, lambda kind, value: "h" + str(len(value)))
    redactor.mark_fields({"applicant": "Jane Doe"})
    text = redactor.text("Jane Doe pays from GB82WEST12345698765432 with 4111111111111111; Jane Doe again", "prompt")
    assert text == "[NAME_1] pays from [IBAN#h22] with [CARD_1]; [NAME_1] again"
    assert redactor.kinds() == {"name": 1, "iban": 1, "card": 1}


def test_retention_periods_use_calendar_months():
    from datetime import datetime

    assert add_period(datetime(2024, 1, 31, tzinfo=UTC), 1, "month").day == 29
    assert retain_until("2024-01-15T10:00:00.000000Z", 25, "month").startswith("2026-02-15T10:00:00")


def test_sealing_binds_record_and_field():
    key = os.urandom(32)
    envelope = seal(key, "rec-1", "generation", {"prompt": "4111 1111 1111 1111"})
    assert b"4111" not in json.dumps(envelope).encode()
    assert open_sealed(key, "rec-1", envelope) == {"prompt": "4111 1111 1111 1111"}
    with pytest.raises(SealBroken):
        open_sealed(key, "rec-2", envelope)  # copied onto another record
    with pytest.raises(SealBroken):
        open_sealed(key, "rec-1", {**envelope, "field": "explanation/x"})
    with pytest.raises(SealBroken):
        open_sealed(os.urandom(32), "rec-1", envelope)


def test_key_store_is_0600_erases_and_refuses_loose_permissions(tmp_path: Path):
    path = tmp_path / "keys.json"
    keys = KeyStore.open(path)
    ref = keys.subject_ref("CUST-1")
    k1, k2 = keys.new_record_key(ref, "r1"), keys.new_record_key(ref, "r2")
    keys.save()
    assert (path.stat().st_mode & 0o777) == 0o600 and b"CUST-1" not in path.read_bytes()
    again = KeyStore.open(path)
    assert (
        again.subject_ref("CUST-1") == ref and again.record_key(ref, "r1") == k1 and again.record_key(ref, "r2") == k2
    )
    assert again.erase_record(ref, "r1")
    with pytest.raises(KeyMissing):
        again.record_key(ref, "r1")
    assert again.erase_subject(ref) == ["r2"]
    with pytest.raises(KeyMissing):
        again.record_key(ref, "r2")
    path.chmod(0o640)
    with pytest.raises(UserError, match="chmod 600"):
        KeyStore.open(path)
