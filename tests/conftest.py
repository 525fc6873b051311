"""Shared fixtures: a tiny seeded Llama (fast tests) and the embedded default model (integration).

The tiny model is built from a config with a fixed seed and saved with the default
model's tokenizer, so it loads through the same code path as any user folder
(``--model PATH``) and its chat template is real.
"""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from audit.hashing import FileHashCache
from audit.model import LoadedModel, load_model
from audit.model.cache import cache_dir
from audit.model.default import converted_folder

REPO = Path(__file__).resolve().parents[1]

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs two workers on the two cores: one torch thread each, and in every `llm-audit`
    # process they start (OMP_NUM_THREADS is inherited), so records and their replays run alike.
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


def default_tokenizer():
    """The embedded default model's tokenizer (its chat template is real), for the tiny test models."""
    from transformers import AutoTokenizer

    default_folder, _, _ = converted_folder(FileHashCache(cache_dir() / "file-hashes.json"))
    return AutoTokenizer.from_pretrained(default_folder)


def tiny_config(tokenizer):
    """The tiny Llama every test model is built from: 2 layers of width 32 over the default tokenizer."""
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
    )


def build_tiny_model(folder: Path, seed: int = 0) -> Path:
    from transformers import GenerationConfig, LlamaForCausalLM

    tokenizer = default_tokenizer()
    config = tiny_config(tokenizer)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    # Larger weights than the default init make the distribution peaked enough that
    # greedy choices are far from ties, so tests are insensitive to kernel rounding.
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() > 1:
                parameter.mul_(8.0)
    model.generation_config = GenerationConfig(bos_token_id=1, eos_token_id=2, pad_token_id=2)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session", autouse=True)
def private_config(tmp_path_factory: pytest.TempPathFactory):
    """Keys, trust file and pending journals go to a temporary folder, never the real home (subprocesses inherit it)."""
    base = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CONFIG_HOME", str(base / "config"))
        patch.setenv("XDG_STATE_HOME", str(base / "state"))
        # No progress lines: a one-line error must not depend on how long a load took on a busy machine
        # (tests/cli/test_progress.py turns them on).
        patch.setenv("LLM_AUDIT_PROGRESS_SECONDS", "off")
        for name in ("LLM_AUDIT_SIGNING_KEY", "LLM_AUDIT_KEY", "LLM_AUDIT_TRUSTED_KEY", "LLM_AUDIT_TRUST_FILE"):
            patch.delenv(name, raising=False)
        yield base


@pytest.fixture(autouse=True)
def private_trust_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test its own (initially empty) trust file, so a key one test pins never pins another's databases."""
    path = tmp_path / "trusted_keys"
    monkeypatch.setenv("LLM_AUDIT_TRUST_FILE", str(path))
    return path


@contextmanager
def one_torch_thread():
    """Tiny-model passes are per-op overhead: one thread is ~50x faster than two cores shared
    with other jobs, and avoids oversubscribing a CI runner. Restores the previous count."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def single_thread():
    """Module-wide :func:`one_torch_thread`; use with ``pytest.mark.usefixtures("single_thread")``."""
    with one_torch_thread():
        yield


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def planted_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model trained to decide by the applicant's name (tests/planted.py), trained once per session."""
    from tests.planted import build_planted_model

    return build_planted_model(tmp_path_factory.mktemp("planted") / "model")


@pytest.fixture(scope="session")
def tiny_loaded(tiny_model_dir: Path) -> LoadedModel:
    return load_model(str(tiny_model_dir), device="cpu")


@pytest.fixture(scope="session")
def default_loaded() -> LoadedModel:
    return load_model(None, device="cpu")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "audit.db"


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``llm-audit`` as a user would: a separate process, real exit code and streams."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "audit", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd or REPO,
        timeout=600,
    )


@pytest.fixture
def cli():
    return run_cli


class InProcessRun:
    """What a command gave when run in this process through click (no interpreter start-up, same exit codes)."""

    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def run_cli_in_process(*args: str) -> InProcessRun:
    """``llm-audit ARGS`` through click's runner: for the many bad-input cases, where a separate process per case
    would cost seconds of start-up each. An exception other than the exit is re-raised (a traceback a user would see)."""
    from click.testing import CliRunner

    from audit.cli import main

    result = CliRunner().invoke(main, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return InProcessRun(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def cli_fast():
    return run_cli_in_process
