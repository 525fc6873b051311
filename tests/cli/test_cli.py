"""The CLI as a user calls it: exit codes, one-line errors, JSON output, database untouched on error."""

import hashlib
import json

import pytest
from click.testing import CliRunner

from audit.cli import main

JSON_FIELDS = {
    "id": str,
    "prompt": str,
    "output_text": str,
    "input_ids": list,
    "output_ids": list,
    "token_logprobs": list,
    "seed": int,
    "generation_config": dict,
    "model": dict,
    "environment": dict,
}


def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def recorded(tiny_model_dir, db_path):
    result = invoke(
        "generate",
        "--db",
        str(db_path),
        "--model",
        str(tiny_model_dir),
        "--prompt",
        "Income 42000. Approve?",
        "--max-new-tokens",
        "4",
        "--use-case",
        "credit-decision",
        "--json",
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_generate_json_has_typed_fields(recorded):
    for name, kind in JSON_FIELDS.items():
        assert isinstance(recorded[name], kind), name
    assert len(recorded["output_ids"]) == 4 == len(recorded["token_logprobs"])
    assert all(isinstance(x, float) for x in recorded["token_logprobs"])
    assert len(recorded["model"]["weights_sha256"]["model.safetensors"]) == 64
    assert recorded["environment"]["packages"]["torch"]


def test_show_and_list_read_back_what_generate_printed(recorded, db_path):
    shown = json.loads(invoke("show", recorded["id"], "--db", str(db_path), "--json").stdout)
    assert shown == recorded
    listing = invoke("list", "--db", str(db_path))
    assert recorded["id"] in listing.stdout and "credit-decision" in listing.stdout
    text = invoke("show", recorded["id"], "--db", str(db_path)).stdout
    assert "per-token log-probabilities" in text and recorded["id"] in text


def test_template_and_messages_from_the_cli(tiny_model_dir, db_path):
    result = invoke(
        "generate",
        "--db",
        str(db_path),
        "--model",
        str(tiny_model_dir),
        "--system",
        "You are a credit analyst.",
        "--template",
        "Income {income}, score {score}. Approve?",
        "--var",
        "income=$42,000",
        "--var",
        "score=580",
        "--max-new-tokens",
        "2",
        "--json",
    )
    data = json.loads(result.stdout)
    assert data["prompt_kind"] == "template" and data["variables"] == {"income": "$42,000", "score": "580"}
    assert "Income $42,000, score 580. Approve?" in data["prompt"]
    result = invoke(
        "generate",
        "--db",
        str(db_path),
        "--model",
        str(tiny_model_dir),
        "--messages",
        '[{"role": "user", "content": "Is a 5.8x leveraged borrower risky?"}]',
        "--max-new-tokens",
        "2",
        "--json",
    )
    assert json.loads(result.stdout)["prompt"].startswith("<|im_start|>system")


def _db_digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--prompt", ""], "the prompt is empty"),
        (["--prompt", "x", "--temperature", "-1"], "temperature must be >= 0"),
        (["--prompt", "x", "--top-p", "0"], "top_p must be in (0, 1]"),
        (["--prompt", "x", "--top-p", "1.5"], "top_p must be in (0, 1]"),
        (["--prompt", "x", "--max-new-tokens", "0"], "max_new_tokens must be at least 1"),
        (["--prompt", "word " * 600], "longer than the model's context of 512"),
        (["--template", "Income {income}"], "needs variable(s) income"),
        (["--messages", "{not json"], "--messages is not valid JSON"),
    ],
)
def test_bad_generation_input_exits_2_and_leaves_db_unchanged(recorded, tiny_model_dir, db_path, args, fragment):
    before = _db_digest(db_path)
    result = CliRunner().invoke(main, ["generate", "--db", str(db_path), "--model", str(tiny_model_dir), *args])
    assert result.exit_code == 2
    assert fragment in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")
    assert _db_digest(db_path) == before


def test_unknown_record_id_exits_2(recorded, db_path):
    before = _db_digest(db_path)
    result = CliRunner().invoke(main, ["show", "0000-not-an-id", "--db", str(db_path)])
    assert result.exit_code == 2 and "no record with id '0000-not-an-id'" in result.stderr
    assert _db_digest(db_path) == before


def test_user_errors_in_a_real_process(cli, tmp_path, tiny_model_dir):
    """Exit code 2, one line, no traceback, for a missing model folder, a non-LM folder and a non-database."""
    from transformers import ResNetConfig

    not_lm = tmp_path / "resnet"
    ResNetConfig().save_pretrained(not_lm)
    text_file = tmp_path / "notes.txt"
    text_file.write_text("hello\n")
    cases = [
        (
            ["generate", "--prompt", "x", "--model", str(tmp_path / "missing"), "--db", str(tmp_path / "a.db")],
            "does not exist",
        ),
        (
            ["generate", "--prompt", "x", "--model", str(not_lm), "--db", str(tmp_path / "a.db")],
            "is not a causal language model",
        ),
        (["list", "--db", str(text_file)], "is not an SQLite database"),
    ]
    for args, fragment in cases:
        done = cli(*args)
        assert done.returncode == 2, done.stderr
        assert fragment in done.stderr and "Traceback" not in done.stderr
        assert done.stderr.strip().count("\n") == 0
    assert not (tmp_path / "a.db").exists()
    assert text_file.read_text() == "hello\n"
