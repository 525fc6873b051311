"""Loading causal LMs offline and describing them by content (hashes)."""
from .loader import DEFAULT_MODEL_NAME, LoadedModel, load_model

__all__ = ["DEFAULT_MODEL_NAME", "LoadedModel", "load_model"]
