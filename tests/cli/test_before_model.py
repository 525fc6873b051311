"""Every refusal that needs no model comes before the model loads (10-15 s for the default model).

The loader is replaced by one that fails the test, so a refusal reached only after loading fails
here even when its message is right; each case still checks the exit code and the message.
"""

from __future__ import annotations

from pathlib import Path

import pytest

DECISION = {"labels": ["APPROVE", "DECLINE"], "favourable": "APPROVE"}
TEMPLATE = "Income {income}, credit score {score}. Approve the loan?"


@pytest.fixture(scope="module")
def decided(tiny_loaded, tmp_path_factory) -> tuple[Path, str]:
    from audit import Auditor

    db = tmp_path_factory.mktemp("before-model") / "audit.db"
    record = Auditor(db=db, model=tiny_loaded).generate(
        template=TEMPLATE,
        variables={"income": "$42,000", "score": 580},
        decision=DECISION,
        use_case="credit-decision",
        max_new_tokens=3,
    )
    return db, record.id


class ModelLoaded(BaseException):
    """Raised by the stand-in loader; a BaseException, so no ``except Exception`` on the way can swallow it."""


@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise ModelLoaded(args)

    monkeypatch.setattr("audit.model.loader._load_model", refuse)


def cases(record_id: str) -> list[tuple[list[str], str]]:
    """(arguments, a fragment of the one-line refusal) for each check that needs no model."""
    gen = ["generate", "--max-new-tokens", "2"]
    return [
        ([*gen, "--system", "You are terse.", "--prompt", "Hello"], "a system message needs a template"),
        ([*gen, "--template", "Income {income}."], "income"),
        ([*gen, "--prompt", "Hi", "--max-new-tokens", "0"], "max_new_tokens"),
        ([*gen, "--prompt", "Hi", "--temperature", "-1"], "temperature"),
        ([*gen, "--prompt", "Hi", "--top-p", "1.5"], "top_p"),
        ([*gen, "--prompt", "Hi", "--decision-labels", "APPROVE"], "two"),
        ([*gen, "--prompt", "Hi", "--decision-labels", "APPROVE,DECLINE", "--favourable", "MAYBE"], "MAYBE"),
        (["counterfactual", record_id, "--vary", "salary=1,2"], "salary"),
        (["counterfactual", record_id, "--vary", "score=580"], "every value given is the recorded one"),
        (["counterfactual", record_id], "no alternative given"),
        (["counterfactual", "0123abcd-ffff", "--vary", "score=700"], "no record with id"),
        (["explain", record_id, "--method", "no-such-method"], "no-such-method"),
        (["explain", record_id, "--n-steps", "0"], "n_steps"),
        (["explain", "0123abcd-ffff"], "no record with id"),
        (["attention", record_id, "--tolerance", "-1"], "tolerance"),
        (["attention", "0123abcd-ffff"], "no record with id"),
        (["replay", record_id, "--tolerance", "-1"], "tolerance"),
        (["replay", "0123abcd-ffff"], "no record with id"),
        (["fairness", "--swap", "salary=1,2"], "salary"),
        (["explain", "--all", "--method", "no-such-method"], "no-such-method"),
        (["replay", "--all", "--tolerance", "-1"], "tolerance"),
    ]


def test_refusals_that_need_no_model_come_before_it_loads(decided, no_model, cli_fast, tiny_model_dir) -> None:
    db, record_id = decided
    before = db.read_bytes()
    loaded, wrong = [], []
    for args, fragment in cases(record_id):
        try:
            done = cli_fast(*args, "--db", str(db), "--model", str(tiny_model_dir))
        except ModelLoaded:
            loaded.append(args)
            continue
        if not (done.returncode == 2 and done.stderr.startswith("Error: ") and fragment in done.stderr):
            wrong.append((args, done.returncode, done.stderr))
    assert loaded == [], f"these refusals waited for the model: {loaded}"
    assert wrong == [], "\n".join(map(str, wrong))
    assert db.read_bytes() == before


def test_the_loader_guard_is_real(decided, no_model, cli_fast, tiny_model_dir) -> None:
    """A command that passes every check reaches the loader, so the guard above can fail."""
    db, record_id = decided
    with pytest.raises(ModelLoaded):
        cli_fast("counterfactual", record_id, "--vary", "score=720", "--db", str(db), "--model", str(tiny_model_dir))
