"""Which values to try: ``--vary``/``--swap`` arguments, numeric ranges, swap-list files, example tables.

Two shapes, one parser:

* a *variation* (``--vary credit_score=620,680,720``) is a field and an ordered list of alternative
  values; order matters, because "the smallest change that flips the decision" is the first one in
  the order given. A numeric range ``600..760/20`` lists 600, 620, ..., 760; a value keeps the
  recorded text's form when it can (``$1,900`` -> ``$1,200``, see :func:`format_like`).
* a *swap* (``--swap applicant_name=@examples/fairness/names.toml``, ``--swap age=25,45,70``) is a
  field and named groups of values; a plain list makes each value its own group, a TOML file holds
  ``[groups]`` of lists (``female = ["Emily Walsh", ...]``).

Every mistake (an empty group, a zero or wrong-signed step, a file that is not there) is a
:class:`~audit.errors.UserError` naming the argument and the fix.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from ..errors import UserError

MAX_VALUES = 1000  # per field: more is almost certainly a typo in a range's step
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RANGE = re.compile(r"^\s*(-?[0-9.]+)\s*\.\.\s*(-?[0-9.]+)\s*/\s*(-?[0-9.]+)\s*$")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


@dataclass
class Variation:
    """Alternative values of one field, in the order they are tried."""

    field: str
    values: list[str]


@dataclass
class Swap:
    """Groups of values of one (protected) attribute: group name -> values, in the order given."""

    field: str
    groups: dict[str, list[str]]
    source: str = ""  # the argument or file it came from, for the report
    note: str = ""  # what the file says about itself (e.g. "illustrative, not a validated instrument")

    @property
    def values(self) -> list[tuple[str, str]]:
        """(group, value) of every value, groups in order."""
        return [(group, value) for group, values in self.groups.items() for value in values]


def split_argument(argument: str, option: str) -> tuple[str, str]:
    """``FIELD=VALUES`` -> (field, values); the field must be a template field name."""
    name, sep, values = argument.partition("=")
    name = name.strip()
    if not sep or not _NAME.match(name):
        raise UserError(f"{option} {argument!r} is not FIELD=VALUES: write e.g. {option} credit_score=620,680,720")
    if not values.strip():
        raise UserError(f"{option} {name}= names no values: give at least one, e.g. {option} {name}=620,680")
    return name, values.strip()


def _decimal(text: str, argument: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise UserError(f"range {argument!r}: {text!r} is not a number") from None


def expand_range(text: str, field_name: str) -> list[str] | None:
    """``600..760/20`` -> ["600", "620", ..., "760"] (None: not a range). The step's sign must lead
    from the start to the end; the end is included when a step lands on it."""
    match = _RANGE.match(text)
    if match is None:
        return None
    argument = f"{field_name}={text}"
    start, end, step = (_decimal(x, argument) for x in match.groups())
    if step == 0:
        raise UserError(f"range {argument!r} has a zero step: write e.g. {field_name}={start}..{end}/20")
    if (end - start) * step < 0:
        raise UserError(
            f"range {argument!r} steps away from its end ({step} from {start} never reaches {end}): "
            f"use a {'negative' if end < start else 'positive'} step"
        )
    count = int((end - start) / step) + 1
    if count > MAX_VALUES:
        raise UserError(f"range {argument!r} lists {count} values (at most {MAX_VALUES}): use a larger step")
    return [_plain(start + i * step) for i in range(count)]


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text if "." not in text else text.rstrip("0").rstrip(".")


def parse_values(text: str | list[Any], field_name: str, option: str = "--vary") -> list[str]:
    """A comma-separated list (or a TOML list), or a range; each value stripped, none empty, no repeats."""
    if isinstance(text, list):
        values = [str(v).strip() for v in text]
    else:
        values = expand_range(text, field_name) or [v.strip() for v in _split_commas(text)]
    if not values or any(not v for v in values):
        raise UserError(f"{option} {field_name}: an empty value in {text!r}; separate values with commas")
    seen: set[str] = set()
    repeated = [v for v in values if v in seen or seen.add(v)]
    if repeated:
        raise UserError(f"{option} {field_name}: {repeated[0]!r} is listed twice; list each value once")
    return values


def _split_commas(text: str) -> list[str]:
    """Split on commas, except a thousands separator inside an amount that starts with a sign or a
    word (``$55,000`` and ``EUR 1,200,000`` stay one value; ``620,680,720`` is three values)."""
    parts, current = [], ""
    for i, ch in enumerate(text):
        amount = current.strip()[:1] and not current.strip()[:1].isdigit() and current.strip()[-1:].isdigit()
        if ch == "," and amount and re.match(r"\d{3}(?!\d)", text[i + 1 :]):
            current += ch
        elif ch == ",":
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return parts


def format_like(value: str, recorded: str) -> str:
    """A bare number written the way the recorded value writes its number (``1200`` for ``$1,900`` ->
    ``$1,200``); anything else unchanged. So a range over an amount keeps the prompt's own notation."""
    if not re.fullmatch(r"-?\d+(?:\.\d+)?", value):
        return value
    match = _NUMBER.search(recorded)
    if match is None or match.group() == recorded and "," not in recorded:
        return value
    number = match.group()
    decimals = len(number.split(".")[1]) if "." in number else 0
    formatted = f"{Decimal(value):,.{decimals}f}" if "," in number else f"{Decimal(value):.{decimals}f}"
    return recorded[: match.start()] + formatted + recorded[match.end() :]


def parse_variations(arguments: list[str]) -> list[Variation]:
    """``--vary`` arguments, one field each (a field given twice is refused)."""
    found: dict[str, Variation] = {}
    for argument in arguments:
        name, text = split_argument(argument, "--vary")
        if name in found:
            raise UserError(f"--vary {name} is given twice: list all its values in one --vary")
        found[name] = Variation(name, parse_values(text, name))
    return list(found.values())


def load_swap_file(path: Path, field_name: str) -> Swap:
    """A TOML swap list: ``[groups]`` of value lists (optionally ``note``, ``attribute``)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"swap list {path} not found: give the path of a TOML file with a [groups] table") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read swap list {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"swap list {path} is not valid TOML ({exc})") from None
    groups = data.get("groups")
    if not isinstance(groups, dict) or not groups:
        raise UserError(f'swap list {path} has no [groups] table: write e.g. [groups] female = ["Emily"]')
    parsed = {}
    for name, values in groups.items():
        if not isinstance(values, list) or not values:
            raise UserError(f"swap list {path}: group {name!r} is empty; give it at least one value")
        parsed[str(name)] = parse_values(values, f"{field_name} group {name}", "--swap")
    return Swap(field_name, parsed, str(path), str(data.get("note", "")))


def parse_swap(argument: str | tuple[str, Any], base: Path | None = None) -> Swap:
    """One ``--swap FIELD=@file.toml`` or ``FIELD=v1,v2`` (each value its own group); ``base``: the folder
    a relative ``@file`` is read from (the TOML file that names it; else the working directory)."""
    if isinstance(argument, tuple):
        name, spec = argument
    else:
        name, spec = split_argument(argument, "--swap")
    if isinstance(spec, str) and spec.startswith("@"):
        path = Path(spec[1:])
        return load_swap_file(path if path.is_absolute() or base is None else base / path, name)
    values = parse_values(spec, name, "--swap")
    return Swap(name, {value: [value] for value in values}, f"{name}={spec}")


def parse_swaps(arguments: list[str | tuple[str, Any]], base: Path | None = None) -> list[Swap]:
    swaps: dict[str, Swap] = {}
    for argument in arguments:
        swap = parse_swap(argument, base)
        if swap.field in swaps:
            raise UserError(f"--swap {swap.field} is given twice: put all its groups in one swap")
        swaps[swap.field] = swap
    if not swaps:
        raise UserError("no swap given: name an attribute and its values, e.g. --swap age=25,45,70")
    return list(swaps.values())


def example_table(path: Path, table: str) -> dict[str, Any]:
    """The ``[counterfactuals]`` or ``[fairness]`` table of an example TOML (field -> values, a range or ``@file``)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"example {path} not found: give the path of an example TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"example {path} is not valid TOML ({exc})") from None
    found = data.get(table)
    if not isinstance(found, dict) or not found:
        raise UserError(f"example {path} has no [{table}] table: add one, or give the values on the command line")
    return found


def variations_from_table(table: dict[str, Any]) -> list[Variation]:
    """``[counterfactuals]`` entries (``credit_score = "600..760/40"``, ``income = ["$55,000"]``) as variations."""
    return [Variation(str(name), parse_values(values, str(name))) for name, values in table.items()]


def swaps_from_table(table: dict[str, Any], base: Path) -> list[Swap]:
    """``[fairness]`` entries (``age = ["25", "45"]``, ``applicant_name = "@fairness/names.toml"``) as swaps."""
    return parse_swaps([(str(name), values) for name, values in table.items()], base)


def variations_for(vary: Any = None, example: str | Path | None = None) -> list[Variation]:
    """What to vary: ``--vary`` strings (``["credit_score=620,680"]``), a dict (field -> values, a range
    or a list), and/or an example TOML's ``[counterfactuals]``; the command line wins over the file."""
    found: dict[str, Variation] = {}
    if example is not None:
        found.update((v.field, v) for v in variations_from_table(example_table(Path(example), "counterfactuals")))
    if isinstance(vary, dict):
        given = [Variation(str(k), parse_values(v, str(k))) for k, v in vary.items()]
    else:
        given = parse_variations(list(vary or []))
    found.update((v.field, v) for v in given)
    if not found:
        raise UserError(
            "no alternative given: name a field and its values (--vary credit_score=620,680,720) "
            "or an example with a [counterfactuals] table (--example examples/credit_decision.toml)"
        )
    return list(found.values())


def swaps_for(swap: Any = None, example: str | Path | None = None) -> list[Swap]:
    """What to swap: ``--swap`` strings, a dict (field -> values or ``@file``), and/or an example TOML's
    ``[fairness]`` (its ``@file`` paths relative to the example); the command line wins over the file."""
    found: dict[str, Swap] = {}
    if example is not None:
        path = Path(example)
        found.update((s.field, s) for s in swaps_from_table(example_table(path, "fairness"), path.parent))
    if isinstance(swap, dict):
        given = parse_swaps([(str(k), v) for k, v in swap.items()]) if swap else []
    else:
        given = parse_swaps(list(swap)) if swap else []
    found.update((s.field, s) for s in given)
    if not found:
        raise UserError(
            "no swap given: name an attribute and its values (--swap age=25,45,70, --swap applicant_name=@names.toml) "
            "or an example with a [fairness] table (--example examples/credit_decision.toml)"
        )
    return list(found.values())
