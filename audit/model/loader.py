"""Load a causal LM and its tokenizer from the default model, a local folder or a hub id.

Loading never downloads unless the user named a hub id and the network allows it; the
error for a missing folder says how to get one.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from pathlib import Path

import torch

from ..errors import UserError
from ..hashing import FileHashCache
from .cache import cache_dir
from .default import DEFAULT_MODEL_NAME, SOURCE_FILE, converted_folder
from .identity import describe_model
from .loaded import LoadedModel

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(device: str | None) -> torch.device:
    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise UserError(f"unknown device {device!r}: use cpu, cuda, cuda:N or auto") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {device!r} asked for but CUDA is not available here: use --device cpu")
    return resolved


def resolve_dtype(dtype: str | None) -> torch.dtype:
    if dtype in (None, ""):
        return torch.float32
    if dtype not in DTYPES:
        raise UserError(f"unknown dtype {dtype!r}: use one of {', '.join(DTYPES)}")
    return DTYPES[dtype]


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _is_hub_id(spec: str) -> bool:
    """``org/name`` that is not an existing path; anything else is treated as a folder."""
    return bool(_HUB_ID.match(spec)) and not Path(spec).expanduser().exists()


def _hub_folder(repo_id: str) -> tuple[Path, str | None]:
    try:
        from huggingface_hub import snapshot_download

        offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false")
        folder = Path(snapshot_download(repo_id, local_files_only=offline))
    except Exception as exc:  # noqa: BLE001 - any hub failure means the same thing to the user
        raise UserError(
            f"{repo_id!r} is neither a local folder nor reachable on the Hugging Face hub ({type(exc).__name__}): "
            "pass --model with a local model folder (or check the network for hub ids)"
        ) from None
    return folder, folder.name


def _revision_of(folder: Path) -> str | None:
    if folder.parent.name == "snapshots":
        return folder.name
    head = folder / ".git" / "HEAD"
    if head.is_file():
        ref = head.read_text(encoding="utf-8").strip()
        if ref.startswith("ref: "):
            target = folder / ".git" / ref[5:]
            return target.read_text(encoding="utf-8").strip() if target.is_file() else None
        return ref
    return None


# What a saved causal LM's config names as its architecture (Llama/Qwen/...ForCausalLM, GPT2LMHeadModel).
CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel")
# Any one of these in a folder is a saved tokenizer.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json", "vocab.txt")


def check_causal(spec: str, config) -> None:
    """Refuse a folder whose saved architecture is not a causal LM (a BERT encoder loads as BertLMHeadModel, but
    it was trained to fill in masks, not to write: its "generations" are empty or noise)."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    if config.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise UserError(
            f"{spec} is not a causal language model (model type {config.model_type} has no causal LM class): "
            "pass a model with a *ForCausalLM architecture"
        )
    architectures = list(getattr(config, "architectures", None) or [])
    decoder = bool(getattr(config, "is_decoder", False))
    if architectures and not any(a.endswith(CAUSAL_SUFFIXES) for a in architectures) and not decoder:
        raise UserError(
            f"{spec} is not a causal language model (its config names {', '.join(architectures)}, "
            f"model type {config.model_type}): pass a model with a *ForCausalLM architecture"
        )
    if getattr(config, "is_encoder_decoder", False):
        raise UserError(
            f"{spec} is an encoder-decoder model ({config.model_type}), not a causal language model: pass a model "
            "with a *ForCausalLM architecture"
        )


def check_tokenizer_files(spec: str, folder: Path) -> None:
    if folder.is_dir() and not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise UserError(
            f"{spec} has no tokenizer files ({', '.join(TOKENIZER_FILES[:2])}, ...): save the tokenizer with the model "
            "(tokenizer.save_pretrained into the same folder)"
        )


def load_model(spec: str | None = None, *, device: str | None = None, dtype: str | None = None) -> LoadedModel:
    """Load ``spec`` (default model name, local folder or hub id) onto ``device`` in ``dtype``; the 10-15 s a
    model takes is announced (:func:`audit.progress.step`), so a command is not silent while it loads."""
    import transformers  # noqa: F401 - imported before the clock starts: a refused folder stays one line

    from ..progress import step

    with step(f"loading model {spec or DEFAULT_MODEL_NAME}"):
        return _load_model(spec, device=device, dtype=dtype)


def _load_model(spec: str | None, *, device: str | None, dtype: str | None) -> LoadedModel:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    spec = spec or DEFAULT_MODEL_NAME
    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype)
    hashes = FileHashCache(cache_dir() / "file-hashes.json")
    weights_override: list[Path] | None = None

    if spec == DEFAULT_MODEL_NAME:
        folder, gguf, _ = converted_folder(hashes)
        name, source = DEFAULT_MODEL_NAME, str(gguf)
        revision = json.loads((folder / SOURCE_FILE).read_text(encoding="utf-8"))["package"] + ":" + gguf.name
        weights_override = [gguf]
    elif _is_hub_id(spec):
        folder, revision = _hub_folder(spec)
        name, source = spec, spec
    else:
        folder = Path(spec).expanduser()
        if not folder.exists():
            raise UserError(
                f"model folder {spec} does not exist: pass --model with a folder holding config.json and weights, or omit it for the default model"
            )
        if not folder.is_dir() or not (folder / "config.json").is_file():
            raise UserError(
                f"{spec} is not a Hugging Face model folder (no config.json): pass the folder that save_pretrained wrote"
            )
        folder = folder.resolve()
        name, source, revision = folder.name, str(folder), _revision_of(folder)

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            config = AutoConfig.from_pretrained(folder)
            check_causal(spec, config)
            check_tokenizer_files(spec, folder)
            try:
                model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch_dtype)
            except ValueError as exc:
                raise UserError(
                    f"{spec} is not a causal language model ({config.model_type}: {exc.__class__.__name__}): "
                    "pass a model with a *ForCausalLM architecture"
                ) from None
            except OSError as exc:
                raise UserError(
                    f"could not load weights from {spec}: {exc}".splitlines()[0] + " - check the folder is complete"
                ) from None
            try:
                tokenizer = AutoTokenizer.from_pretrained(folder)
            except (OSError, ValueError, TypeError, KeyError) as exc:
                raise UserError(
                    f"could not load the tokenizer of {spec} ({exc.__class__.__name__}): save the tokenizer with the "
                    "model (tokenizer.save_pretrained into the same folder)"
                ) from None
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
    model.to(torch_device)
    model.eval()
    identity = describe_model(
        model, tokenizer, folder, hashes, name=name, source=source, revision=revision, weights=weights_override
    )
    return LoadedModel(
        model=model, tokenizer=tokenizer, identity=identity, folder=folder, device=torch_device, dtype=torch_dtype
    )
