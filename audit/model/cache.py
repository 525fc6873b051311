"""Where llm-audit keeps converted models and file-hash caches.

``$LLM_AUDIT_CACHE`` wins, then ``$XDG_CACHE_HOME/llm-audit``, then ``~/.cache/llm-audit``.
Nothing in here is precious: deleting it costs one conversion and some hashing.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    explicit = os.environ.get("LLM_AUDIT_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "llm-audit"
