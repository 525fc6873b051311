"""PII detectors: a pattern proposes a candidate, a validator rejects what only looks like PII.

Each detector is a small class with ``find(text) -> list[Span]``. Patterns alone flag every
16-digit order number as a card and every date as a birth date, so each candidate must pass
the check its format really has: IBAN mod-97 and the country's length, the Luhn digit and a
card network prefix, the SSA's area/group/serial rules, a calendar date next to a birth
keyword. Precision on a labelled set is measured by ``benchmarks/pii_precision.py``.

Validation only decides *unlabelled* matches. A value the text itself labels (``SSN 078-05-1120``,
``IBAN DE89 ... 01``, ``card number 4111 1111 1111 1112``) is masked whatever its checksum or
specimen status: a mistyped IBAN is still someone's account number, an SSN that fails the
SSA's rules is still what the applicant gave as theirs, and storing it in clear because it is
"invalid" would leak exactly what the label announces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Protocol


@dataclass(frozen=True)
class Span:
    detector: str
    start: int
    end: int
    text: str


class Detector(Protocol):
    name: str

    def find(self, text: str) -> list[Span]: ...


def _spans(name: str, text: str, pattern: re.Pattern[str], valid) -> list[Span]:
    out = []
    for m in pattern.finditer(text):
        if valid(m, text):
            out.append(Span(name, m.start(), m.end(), m.group(0)))
    return out


def _digits(value: str) -> str:
    return "".join(c for c in value if c.isdigit())


def _labelled(name: str, text: str, pattern: re.Pattern[str], found: list[Span]) -> list[Span]:
    """``found`` plus every value ``pattern`` (a label, then the value in group ``value``) finds, validated or not."""
    out = list(found)
    for m in pattern.finditer(text):
        span = Span(name, m.start("value"), m.end("value"), m.group("value"))
        if not any(_overlap(span, f) for f in out):
            out.append(span)
    return sorted(out, key=lambda s: s.start)


# -- e-mail ---------------------------------------------------------------------------------
class EmailDetector:
    """RFC 5322 'dot-atom' addresses: no leading/trailing/double dots, hyphen rules on labels."""

    name = "email"
    _pattern = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}(?![\w-])")

    def find(self, text: str) -> list[Span]:
        def valid(m: re.Match[str], _: str) -> bool:
            local, domain = m.group(0).rsplit("@", 1)
            if local.startswith(".") or local.endswith(".") or ".." in local or len(local) > 64:
                return False
            return all(label and not label.startswith("-") and not label.endswith("-") for label in domain.split("."))

        return _spans(self.name, text, self._pattern, valid)


# -- phone ----------------------------------------------------------------------------------
class PhoneDetector:
    """International (+CC, 8-15 digits) and grouped national numbers (NANP rules, 0-prefixed trunks).

    Bare digit runs are never phones: order numbers and amounts look the same. A NANP number
    needs area and exchange codes that do not start with 0 or 1; a national number needs a
    trunk 0 and 10-11 digits in groups.
    """

    name = "phone"
    _international = re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?![\w])")
    _nanp = re.compile(r"(?<![\w(+-])(?:1[ .-])?(?:\((\d{3})\)\s?|(\d{3})([ .-]))(\d{3})[ .-](\d{4})(?![\w-])")
    _national = re.compile(r"(?<![\w+-])0\d{2,4}[ -]\d{3,4}[ -]?\d{3,4}(?![\w-])")
    _not_phone_context = re.compile(
        r"(order|invoice|ref(erence)?|account|acct|loan|case|ticket|po)\s*(no\.?|number|#|:)?\s*$", re.I
    )

    def find(self, text: str) -> list[Span]:
        def context_ok(m: re.Match[str], text: str) -> bool:
            return not self._not_phone_context.search(text[max(0, m.start() - 20) : m.start()])

        def international(m: re.Match[str], text: str) -> bool:
            digits = _digits(m.group(0))
            return 8 <= len(digits) <= 15 and len(set(digits)) > 2 and context_ok(m, text)

        def nanp(m: re.Match[str], text: str) -> bool:
            area = m.group(1) or m.group(2)
            if m.group(3) and m.group(3) not in text[m.start(4) + 3 : m.start(4) + 4]:
                return False  # 555-123.4567: mixed separators
            return area[0] not in "01" and m.group(4)[0] not in "01" and context_ok(m, text)

        def national(m: re.Match[str], text: str) -> bool:
            return 10 <= len(_digits(m.group(0))) <= 11 and context_ok(m, text)

        found = _spans(self.name, text, self._international, international)
        for pattern, valid in ((self._nanp, nanp), (self._national, national)):
            found += [s for s in _spans(self.name, text, pattern, valid) if not any(_overlap(s, f) for f in found)]
        return sorted(found, key=lambda s: s.start)


# -- IBAN -----------------------------------------------------------------------------------
IBAN_LENGTHS = {
    "AD": 24,
    "AE": 23,
    "AT": 20,
    "AZ": 28,
    "BA": 20,
    "BE": 16,
    "BG": 22,
    "BH": 22,
    "BR": 29,
    "CH": 21,
    "CR": 22,
    "CY": 28,
    "CZ": 24,
    "DE": 22,
    "DK": 18,
    "DO": 28,
    "EE": 20,
    "ES": 24,
    "FI": 18,
    "FO": 18,
    "FR": 27,
    "GB": 22,
    "GE": 22,
    "GI": 23,
    "GL": 18,
    "GR": 27,
    "GT": 28,
    "HR": 21,
    "HU": 28,
    "IE": 22,
    "IL": 23,
    "IS": 26,
    "IT": 27,
    "JO": 30,
    "KW": 30,
    "KZ": 20,
    "LB": 28,
    "LI": 21,
    "LT": 20,
    "LU": 20,
    "LV": 21,
    "MC": 27,
    "MD": 24,
    "ME": 22,
    "MK": 19,
    "MR": 27,
    "MT": 31,
    "MU": 30,
    "NL": 18,
    "NO": 15,
    "PK": 24,
    "PL": 28,
    "PS": 29,
    "PT": 25,
    "QA": 29,
    "RO": 24,
    "RS": 22,
    "SA": 24,
    "SE": 24,
    "SI": 19,
    "SK": 24,
    "SM": 27,
    "TN": 24,
    "TR": 26,
    "UA": 29,
    "VG": 24,
    "XK": 20,
}


def iban_valid(candidate: str) -> bool:
    """ISO 13616: the country's length and (rearranged, letters as 10..35) mod 97 == 1."""
    iban = candidate.replace(" ", "").upper()
    if IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban[2:4].isdigit():
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


class IbanDetector:
    name = "iban"
    _shape = r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?"
    _pattern = re.compile(rf"(?<![A-Za-z0-9]){_shape}(?![A-Za-z0-9])")
    _label = re.compile(rf"\bIBAN\b\s*(?:#|:|no\.?|number|is)?\s*(?P<value>{_shape})(?![A-Za-z0-9])", re.I)

    def find(self, text: str) -> list[Span]:
        found = _spans(self.name, text, self._pattern, lambda m, _: iban_valid(m.group(0)))
        return _labelled(self.name, text, self._label, found)


# -- payment cards --------------------------------------------------------------------------
def luhn_valid(number: str) -> bool:
    digits = [int(c) for c in number]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def card_network(number: str) -> str | None:
    """The issuer network by IIN prefix and length, or None (a Luhn-valid number from no network)."""
    n, p2, p4, p6 = len(number), int(number[:2]), int(number[:4]), int(number[:6])
    if number[0] == "4" and n in (13, 16, 19):
        return "visa"
    if (51 <= p2 <= 55 or 2221 <= p4 <= 2720) and n == 16:
        return "mastercard"
    if p2 in (34, 37) and n == 15:
        return "amex"
    if (
        number.startswith("6011") or number.startswith("65") or 644 <= int(number[:3]) <= 649 or 622126 <= p6 <= 622925
    ) and 16 <= n <= 19:
        return "discover"
    if 3528 <= p4 <= 3589 and 16 <= n <= 19:
        return "jcb"
    if (p2 in (36, 38, 39) or 300 <= int(number[:3]) <= 305) and 14 <= n <= 19:
        return "diners"
    return None


class CardDetector:
    """13-19 digits, one separator style (none, spaces or hyphens), Luhn-valid, a known network."""

    name = "card"
    _pattern = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
    _label = re.compile(
        r"\b(?:(?:credit|debit|payment|bank)\s+)?card(?:\s*(?:number|no\.?|num|#))?\s*(?:#|:|is)?\s*"
        r"(?P<value>(?<![\d-])\d(?:[ -]?\d){12,18})(?![\d-])",
        re.I,
    )

    def find(self, text: str) -> list[Span]:
        def valid(m: re.Match[str], _: str) -> bool:
            raw = m.group(0)
            if " " in raw and "-" in raw:
                return False
            digits = _digits(raw)
            return luhn_valid(digits) and card_network(digits) is not None and len(set(digits)) > 1

        return _labelled(self.name, text, self._label, _spans(self.name, text, self._pattern, valid))


# -- US social security numbers -------------------------------------------------------------
_SSN_NEVER_ISSUED = {"078051120", "219099999", "123456789"}  # advertising / specimen numbers


def ssn_valid(digits: str) -> bool:
    """SSA rules: area not 000, 666 or 900-999; group not 00; serial not 0000; no specimen numbers."""
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return (
        area not in ("000", "666")
        and area[0] != "9"
        and group != "00"
        and serial != "0000"
        and digits not in _SSN_NEVER_ISSUED
    )


class SsnDetector:
    """``AAA-GG-SSSS`` (one separator style); nine bare digits only right after an SSN keyword."""

    name = "ssn"
    _grouped = re.compile(r"(?<![\d-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\d-])")
    _bare = re.compile(r"(?:\bSSN|social security(?: number| no\.?)?)\s*(?:#|:|is)?\s*(\d{9})(?!\d)", re.I)
    _label = re.compile(
        r"(?:\bSSN|\bSS#|social security(?: number| no\.?| #)?)\s*(?:#|:|is|no\.?|number)?\s*"
        r"(?P<value>(?<![\d-])\d{3}([- ]?)\d{2}\2\d{4})(?![\d-])",
        re.I,
    )

    def find(self, text: str) -> list[Span]:
        found = _spans(self.name, text, self._grouped, lambda m, _: ssn_valid(m.group(1) + m.group(3) + m.group(4)))
        for m in self._bare.finditer(text):
            if ssn_valid(m.group(1)):
                found.append(Span(self.name, m.start(1), m.end(1), m.group(1)))
        return _labelled(self.name, text, self._label, found)


# -- dates of birth -------------------------------------------------------------------------
_MONTHS = {
    m: i + 1 for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))
}
_MONTH = r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"


class DateOfBirthDetector:
    """A real calendar date in the past (1900 on) within 30 characters after a birth keyword.

    Dates alone are everywhere in credit files (application, payment, maturity dates); the
    keyword is what makes one personal.
    """

    name = "dob"
    _keyword = re.compile(r"\b(?:date of birth|birth ?date|birthday|born(?: on)?|d\.?o\.?b\.?)\b", re.I)
    _dates = (
        (re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)"), ("y", "m", "d")),
        (re.compile(r"(?<!\d)(\d{1,2})[/.](\d{1,2})[/.](\d{4})(?!\d)"), ("a", "b", "y")),
        (re.compile(rf"(?<!\d)(\d{{1,2}}) ({_MONTH})\.?,? (\d{{4}})(?!\d)", re.I), ("d", "M", "y")),
        (re.compile(rf"\b({_MONTH})\.? (\d{{1,2}}),? (\d{{4}})(?!\d)", re.I), ("M", "d", "y")),
    )

    def __init__(self, today: date | None = None) -> None:
        self.today = today

    def _real(self, parts: dict[str, str]) -> bool:
        year = int(parts["y"])
        if "M" in parts:
            month_candidates = [(_MONTHS[parts["M"][:3].lower()], int(parts["d"]))]
        elif "m" in parts:
            month_candidates = [(int(parts["m"]), int(parts["d"]))]
        else:  # dd/mm/yyyy or mm/dd/yyyy: either reading may be meant
            a, b = int(parts["a"]), int(parts["b"])
            month_candidates = [(b, a), (a, b)]
        today = self.today or date.today()
        for month, day in month_candidates:
            try:
                when = date(year, month, day)
            except ValueError:
                continue
            if date(1900, 1, 1) <= when <= today:
                return True
        return False

    def find(self, text: str) -> list[Span]:
        found: list[Span] = []
        for pattern, order in self._dates:
            for m in pattern.finditer(text):
                if not self._keyword.search(text[max(0, m.start() - 30) : m.start()]):
                    continue
                if self._real(dict(zip(order, m.groups()))) and not any(
                    _overlap(Span("", m.start(), m.end(), ""), f) for f in found
                ):
                    found.append(Span(self.name, m.start(), m.end(), m.group(0)))
        return found


def _overlap(a: Span, b: Span) -> bool:
    return a.start < b.end and b.start < a.end


DETECTORS: dict[str, type] = {
    "email": EmailDetector,
    "phone": PhoneDetector,
    "iban": IbanDetector,
    "card": CardDetector,
    "ssn": SsnDetector,
    "dob": DateOfBirthDetector,
}
# When two detectors claim overlapping text, the stricter (checksummed) one wins.
PRIORITY = ("iban", "card", "ssn", "email", "dob", "phone")


def detect(text: str, names: list[str] | tuple[str, ...] = PRIORITY) -> list[Span]:
    """Non-overlapping findings of the named detectors, in text order (stricter detectors win)."""
    chosen: list[Span] = []
    for name in sorted(names, key=lambda n: PRIORITY.index(n) if n in PRIORITY else len(PRIORITY)):
        for span in DETECTORS[name]().find(text):
            if not any(_overlap(span, c) for c in chosen):
                chosen.append(span)
    return sorted(chosen, key=lambda s: s.start)
