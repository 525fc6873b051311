"""Loading causal LMs offline and describing them by content (hashes).

``load_model`` imports torch and transformers only when called, so code that merely names
these types (the CLI's fast paths: ``--help``, ``list``, ``verify``) starts quickly.
"""

from __future__ import annotations

from typing import Any

from .default import DEFAULT_MODEL_NAME
from .loaded import LoadedModel


def load_model(*args: Any, **kwargs: Any) -> LoadedModel:
    """See :func:`audit.model.loader.load_model`."""
    from .loader import load_model as load

    return load(*args, **kwargs)


__all__ = ["DEFAULT_MODEL_NAME", "LoadedModel", "load_model"]
