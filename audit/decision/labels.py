"""Labels as the model would emit them, and the label a generated text states.

A label is scored as the token sequence the model would produce for it at the very start of the
answer: the prompt's text followed by the label, tokenised with the prompt's own special-token rule,
minus the prompt's tokens. After a chat template the answer begins right after the assistant header
(which ends in a newline), so ``APPROVE`` follows directly; after a plain-text prompt that does not
end in whitespace the answer's first word follows a space (``" APPROVE"``), the tokenizer's
word-boundary rule. If the tokenizer merges the last prompt token with the label, the label is
tokenised on its own with that separator. The ids are recorded, so what was scored is evidence.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..errors import UserError


def answer_separator(prompt_text: str) -> str:
    """What separates the prompt from the first word of the answer: nothing after whitespace, else a space."""
    return "" if not prompt_text or prompt_text[-1].isspace() else " "


def label_token_ids(
    tokenizer, prompt_text: str, prompt_ids: Sequence[int], add_special_tokens: bool, label: str
) -> list[int]:
    """The token ids of ``label`` as the first thing the model writes after ``prompt_text``."""
    separator = answer_separator(prompt_text)
    full = list(tokenizer(prompt_text + separator + label, add_special_tokens=add_special_tokens)["input_ids"])
    n = len(prompt_ids)
    if full[:n] == list(prompt_ids) and len(full) > n:
        return full[n:]
    return list(tokenizer(separator + label, add_special_tokens=False)["input_ids"])


def check_label_tokens(tokenizer, labels: Sequence[str], ids: Sequence[Sequence[int]]) -> None:
    """Refuse labels the model cannot tell apart: identical token sequences, or one a prefix of another.

    A label whose tokens begin another label's can never be more probable than it when labels are
    scored as token sequences (the longer one's probability is the shorter one's times a factor of
    at most 1), in ``free`` and ``constrained`` mode alike, so both are refused.
    """
    for i, a in enumerate(labels):
        if not ids[i]:
            raise UserError(f"decision label {a!r} tokenises to nothing with this tokenizer: choose another label")
        for j, b in enumerate(labels):
            if i == j:
                continue
            shown = f"{a!r} {tokenizer.convert_ids_to_tokens(list(ids[i]))} and {b!r} {tokenizer.convert_ids_to_tokens(list(ids[j]))}"
            if list(ids[i]) == list(ids[j]):
                raise UserError(
                    f"decision labels {shown} tokenise to the same tokens: the model cannot tell them apart; "
                    "choose labels that differ"
                )
            if len(ids[i]) < len(ids[j]) and list(ids[j][: len(ids[i])]) == list(ids[i]):
                raise UserError(
                    f"decision label {a!r} is a token prefix of {b!r} ({shown}): the model's probability of "
                    f"{a!r} includes every answer that starts {b!r}, so {b!r} could never be chosen, in free or "
                    "constrained mode; choose labels that differ in their first token (e.g. APPROVE/DECLINE)"
                )


def _word(label: str) -> re.Pattern[str]:
    return re.compile(r"(?<![0-9A-Za-z])" + re.escape(label) + r"(?![0-9A-Za-z])")


def stated_label(text: str, labels: Sequence[str]) -> str | None:
    """The label the text states first, or ``None``.

    A label counts where it appears as a whole word written as the label is (``DECLINE``, also
    ``**DECLINE**``); the answer's first word also counts case-insensitively (``Decline.``). A lower-case
    mention inside a sentence ("the bank should not approve") is not a statement of the label ``APPROVE``:
    a reader would not take it as the decision, and nor does this.
    """
    found: list[tuple[int, int, str]] = []
    for label in labels:
        match = _word(label).search(text)
        if match:
            found.append((match.start(), -len(label), label))
    first = re.match(r"\W*(\w[\w+\-]*)", text)
    if first:
        for label in labels:
            if first.group(1).casefold() == label.casefold():
                found.append((first.start(1), -len(label), label))
    return min(found)[2] if found else None
