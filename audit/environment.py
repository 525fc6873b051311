"""Capture the software and hardware a generation ran on.

A validator comparing a replay with the original needs to see which of these changed
(a library upgrade, another GPU, a different thread count) before blaming the model.
"""

from __future__ import annotations

import copy
import platform
import sys
from dataclasses import dataclass, field, fields
from importlib import metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

_PACKAGES = ("torch", "transformers", "captum", "numpy", "tokenizers", "safetensors", "accelerate", "gguf", "llm-audit")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@dataclass
class Environment:
    """Library versions, platform, device and determinism flags at generation time."""

    python: str
    packages: dict[str, str | None]
    platform: str
    machine: str
    cpu: str
    device: str
    device_name: str
    dtype: str
    threads: int
    determinism: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """What ``dataclasses.asdict`` gives, without its recursion through every value: the record of each proxied
        request carries one, and ``asdict`` cost a tenth of building that record."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["packages"] = dict(self.packages)
        data["determinism"] = copy.deepcopy(self.determinism)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Environment:
        return cls(**data)


def capture_environment(device: torch.device | str, dtype: torch.dtype | str) -> Environment:
    """Describe this process as it is right now, for the given model device and dtype."""
    import torch

    from .determinism import determinism_flags

    device = torch.device(device)
    if device.type == "cuda":
        device_name = torch.cuda.get_device_name(device)
    else:
        device_name = _cpu_name()
    return Environment(
        python=sys.version.split()[0],
        packages={name: _version(name) for name in _PACKAGES},
        platform=platform.platform(),
        machine=platform.machine(),
        cpu=_cpu_name(),
        device=str(device),
        device_name=device_name,
        dtype=str(dtype).replace("torch.", ""),
        threads=torch.get_num_threads(),
        determinism=determinism_flags(),
    )


def remote_environment(device: str, device_name: str) -> Environment:
    """The recording host, for a generation that ran elsewhere (a proxied upstream): its software and
    CPU, with ``device`` and ``device_name`` saying where the model really ran; dtype and threads unknown."""
    return Environment(
        python=sys.version.split()[0],
        packages={name: _version(name) for name in (*_PACKAGES, "httpx")},
        platform=platform.platform(),
        machine=platform.machine(),
        cpu=_cpu_name(),
        device=device,
        device_name=device_name,
        dtype="unknown",
        threads=0,
        determinism={},
    )
