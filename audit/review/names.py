"""One spelling per person: user and operator names compared as the same person however they were typed.

``'rita '``, ``'Rita'``, ``'ＲＩＴＡ'`` (full-width) and ``'ℛita'`` are one person to a reader, so they
must be one person to four eyes and to the users list: a name is normalised with Unicode NFKC (the
compatibility forms folded), stripped of surrounding white space and case-folded, once, wherever
it is stored as a user or compared with another.
"""

from __future__ import annotations

import unicodedata


def person(name: object) -> str:
    """The normalised form of ``name`` ('' for anything that is not text)."""
    if not isinstance(name, str):
        return ""
    return unicodedata.normalize("NFKC", name).strip().casefold()


def same_person(a: object, b: object) -> bool:
    """Whether two names (a user's, a record's operator) name the same person: four eyes compares this."""
    first = person(a)
    return bool(first) and first == person(b)


def current_user(store, name: str):
    """The account ``name`` names, as stored now (a ``UserChange``), or None.

    Names are stored normalised since #29; an account added before under another spelling
    (``Alice``: user names were ASCII then too) is still found, and keeps its stored name. Every
    name costs the same one query, whether an account has it or not.
    """
    return store.users.current(person(name), any_case=True)
