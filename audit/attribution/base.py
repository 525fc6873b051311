"""The shared shape of an attribution method, and the registry that maps method names to them.

A method declares its parameters with defaults (validated before any model is loaded, so a bad
value stores nothing) and turns a :class:`Context` into an :class:`Attribution`. Perturbation methods
run Captum's algorithms over :class:`~audit.attribution.scorer.PrefixCachedScorer`; gradient methods
run Captum's integration rules over :class:`~audit.attribution.embedding_gradients.EmbeddingGradients`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..errors import UserError

if TYPE_CHECKING:
    from .inputs import FeatureSpace

GRANULARITIES = ("token", "field", "segment")
DEFAULT_METHOD = "feature-ablation"
# The registry's table of contents: method name -> its module in audit.attribution.methods, in the
# order help texts list them. Each module registers its class with @register when imported; the
# names are known without importing Captum, so ``llm-audit explain --help`` stays fast.
METHODS = {
    "feature-ablation": "feature_ablation",
    "shapley-sampling": "shapley_sampling",
    "lime": "lime",
    "kernel-shap": "kernel_shap",
    "integrated-gradients": "integrated_gradients",
    "gradient-x-input": "gradient_x_input",
}
# Methods whose result depends on a seed (random perturbations): what stability checks apply to.
STOCHASTIC = ("shapley-sampling", "lime", "kernel-shap")
_REGISTRY: dict[str, type[AttributionMethod]] = {}


@dataclass
class Context:
    model: Any
    features: FeatureSpace
    output_ids: list[int]
    params: dict[str, Any]
    target: Any = None  # OutputTarget | DecisionTarget (audit.attribution.targets); None: the recorded output

    def __post_init__(self) -> None:
        if self.target is None:
            from .targets import OutputTarget

            self.target = OutputTarget(tuple(self.output_ids))

    @property
    def rows(self) -> int:
        """Scores per prompt: one per output token (output target), one (decision target)."""
        return self.target.rows

    @property
    def pad_id(self) -> int:
        return self.features.baseline_token


@dataclass
class Attribution:
    token_attr: np.ndarray  # (rows, n_features) float32: per output token, or the one decision score
    seq_attr: np.ndarray  # (n_features,) float32
    convergence_delta: list[float] | None = None
    evaluations: int = 0  # model rows evaluated (perturbations, or interpolation points)
    # sum of the attributions against the score change with every feature at its baseline (whole target)
    completeness: dict[str, float] | None = None


def completeness(attributed: float, full: float, empty: float) -> dict[str, float]:
    """Completeness of one explanation: what the attributions sum to against what they explain.

    ``full``: the score with every feature present; ``empty``: every feature at its baseline (absent field,
    baseline token). The gap is zero for exact Shapley values and, in the limit of steps, for integrated
    gradients; feature ablation measures one feature at a time, so its gap is the features' interaction.
    """
    change = float(full) - float(empty)
    return {"attributed": float(attributed), "score_change": change, "gap": float(attributed) - change}


def register(cls: type[AttributionMethod]) -> type[AttributionMethod]:
    """Class decorator of every method: its name must be in :data:`METHODS`, its seed use in :data:`STOCHASTIC`."""
    if cls.name not in METHODS:
        raise ValueError(f"attribution method {cls.name!r} is not listed in audit.attribution.base.METHODS")
    if cls.stochastic != (cls.name in STOCHASTIC):
        raise ValueError(f"attribution method {cls.name!r}: stochastic={cls.stochastic} disagrees with STOCHASTIC")
    _REGISTRY[cls.name] = cls
    return cls


def method_names() -> list[str]:
    return list(METHODS)


def get_method(name: str) -> type[AttributionMethod]:
    """The registered class of ``name`` (its module imported on first use)."""
    if name not in METHODS:
        raise UserError(f"unknown attribution method {name!r}: use one of {', '.join(METHODS)}")
    if name not in _REGISTRY:
        import_module(f"{__package__}.methods.{METHODS[name]}")
    return _REGISTRY[name]


class AttributionMethod(ABC):
    name: ClassVar[str]
    kind: ClassVar[str]  # "perturbation" | "gradient"
    stochastic: ClassVar[bool] = False
    defaults: ClassVar[dict[str, Any]]
    #: lower bounds of the integer parameters
    minimum: ClassVar[dict[str, int]] = {}

    @classmethod
    def resolve(cls, params: dict[str, Any]) -> dict[str, Any]:
        """Defaults merged with ``params`` (``None`` means default); refuses unknown or bad values."""
        given = {k: v for k, v in params.items() if v is not None}
        unknown = sorted(set(given) - set(cls.defaults))
        if unknown:
            raise UserError(
                f"{cls.name} takes no parameter {', '.join(unknown)}: its parameters are {', '.join(cls.defaults) or 'none'}"
            )
        resolved = {**cls.defaults, **given}
        for key, low in cls.minimum.items():
            value = resolved[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise UserError(f"{key.replace('_', '-')} must be an integer >= {low} (got {value!r})")
        method = resolved.get("integration")
        if method is not None and method not in (
            "gausslegendre",
            "riemann_left",
            "riemann_right",
            "riemann_middle",
            "riemann_trapezoid",
        ):
            raise UserError(f"unknown integration rule {method!r}: use gausslegendre or riemann_trapezoid")
        return resolved

    @abstractmethod
    def attribute(self, ctx: Context) -> Attribution: ...
