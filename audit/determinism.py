"""The one place that touches torch's global RNG and determinism switches.

Replaying a generation months later only works if the seed is applied the same way,
at the same moment, every time: immediately before ``generate``. Every code path that
needs a seeded RNG (generation, replay, perturbation seeds of attribution methods)
goes through :func:`seed_everything`, and the flags it sets are what
:func:`determinism_flags` records.
"""

from __future__ import annotations

import os
from typing import Any

import torch

# cuBLAS needs this before the first CUDA matmul to be deterministic; harmless on CPU.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) and switch torch to deterministic kernels."""
    from transformers import set_seed

    set_seed(seed, deterministic=False)
    torch.use_deterministic_algorithms(True, warn_only=True)
    if torch.backends.cudnn.is_available():
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def determinism_flags() -> dict[str, Any]:
    """The switches that decide whether a run is bit-reproducible, as they stand now."""
    return {
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "deterministic_warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
        "matmul_precision": torch.get_float32_matmul_precision(),
        "num_threads": torch.get_num_threads(),
    }
