"""Describe a loaded model by the SHA-256 of what it was built from.

Names and revisions are recorded too, but a validator trusts hashes: the same weights
file, config and tokenizer files give the same identity on any machine.
"""

from __future__ import annotations

from pathlib import Path

from ..hashing import FileHashCache, sha256_text
from ..record import ModelIdentity

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth")
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
    "chat_template.jinja",
    "chat_template.json",
)


def weight_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix in WEIGHT_SUFFIXES and not p.name.startswith("training_args")
    )


def describe_model(
    model,
    tokenizer,
    folder: Path,
    hashes: FileHashCache,
    *,
    name: str,
    source: str,
    revision: str | None,
    weights: list[Path] | None = None,
) -> ModelIdentity:
    """Build the identity of ``model`` loaded from ``folder``.

    ``weights`` overrides which files count as the weights (for the default model that
    is the GGUF the safetensors were converted from, the file a user can check).
    """
    weights = weight_files(folder) if weights is None else weights
    config_file = folder / "config.json"
    config = model.config
    chat_template = getattr(tokenizer, "chat_template", None)
    seen: set[int] = set()
    parameter_count = 0
    for parameter in model.parameters():
        if id(parameter) not in seen:
            seen.add(id(parameter))
            parameter_count += parameter.numel()
    context = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
    return ModelIdentity(
        name=name,
        source=source,
        architecture=(config.architectures or [type(model).__name__])[0],
        model_type=config.model_type,
        parameter_count=parameter_count,
        revision=revision,
        weights_sha256={p.name: hashes.sha256(p) for p in weights},
        config_sha256=hashes.sha256(config_file) if config_file.is_file() else sha256_text(config.to_json_string()),
        tokenizer_sha256={n: hashes.sha256(folder / n) for n in TOKENIZER_FILES if (folder / n).is_file()},
        chat_template_sha256=sha256_text(chat_template) if isinstance(chat_template, str) else None,
        context_length=int(context) if context else None,
    )


def _safetensors_parameters(path: Path) -> int:
    """Parameters in a safetensors file, from its header alone (the weights are not read)."""
    import json
    import math
    import struct

    with open(path, "rb") as handle:
        (size,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(size))
    return sum(math.prod(v["shape"]) for k, v in header.items() if k != "__metadata__")


def describe_folder(folder: Path, tokenizer, hashes: FileHashCache, *, revision: str | None) -> ModelIdentity:
    """The identity :func:`describe_model` gives the model in ``folder``, without loading its weights
    (for a proxy that records what a remote server runs): hashes of the same files, the chat template
    of ``tokenizer``, and the parameter count from safetensors headers (0 when weights are not safetensors)."""
    import json

    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    weights = weight_files(folder)
    safetensors = [p for p in weights if p.suffix == ".safetensors"]
    chat_template = getattr(tokenizer, "chat_template", None)
    context = config.get("max_position_embeddings") or config.get("n_positions")
    return ModelIdentity(
        name=folder.name,
        source=str(folder),
        architecture=(config.get("architectures") or ["unknown"])[0],
        model_type=str(config.get("model_type", "unknown")),
        parameter_count=sum(_safetensors_parameters(p) for p in safetensors) if safetensors == weights else 0,
        revision=revision,
        weights_sha256={p.name: hashes.sha256(p) for p in weights},
        config_sha256=hashes.sha256(folder / "config.json"),
        tokenizer_sha256={n: hashes.sha256(folder / n) for n in TOKENIZER_FILES if (folder / n).is_file()},
        chat_template_sha256=sha256_text(chat_template) if isinstance(chat_template, str) else None,
        context_length=int(context) if context else None,
    )
