"""Perturbation methods: Captum's algorithms with the batched, prefix-cached scorer as forward function."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..determinism import seed_everything
from .base import Attribution, AttributionMethod, Context, completeness

# The parameters of every method that samples perturbations (Shapley sampling, Lime, Kernel SHAP).
SAMPLED_DEFAULTS = {"n_samples": 25, "baseline_token": 0, "perturbation_seed": 0, "perturbations_per_eval": 16}
SAMPLED_MINIMUM = {"n_samples": 1, "baseline_token": 0, "perturbation_seed": 0, "perturbations_per_eval": 1}


class PerturbationMethod(AttributionMethod):
    kind = "perturbation"

    def scorer(self, ctx: Context):
        """The target's scorer (:class:`.scorer.PrefixCachedScorer` or :class:`.contrast.ContrastScorer`)."""
        return ctx.target.scorer(ctx.model, ctx.features.input_ids, ctx.pad_id)

    @staticmethod
    def completeness(ctx: Context, scorer, seq_attr: torch.Tensor) -> dict[str, float]:
        """One more evaluation, every feature at its baseline, after the method's own (not counted in them)."""
        empty = scorer.score(ctx.features.perturbed_ids(torch.zeros(1, len(ctx.features.labels))))[0]
        return completeness(float(seq_attr.sum()), float(scorer.unperturbed.sum()), float(empty.sum()))

    @staticmethod
    def forward_all(ctx: Context, scorer) -> Callable[[torch.Tensor], torch.Tensor]:
        """Captum forward: (batch, n_features) presence -> (batch, 1 + rows), total first (as Captum)."""

        def forward(present: torch.Tensor) -> torch.Tensor:
            logp = scorer.score(ctx.features.perturbed_ids(present))
            return torch.cat([logp.sum(1, keepdim=True), logp], dim=1)

        return forward

    @staticmethod
    def interpretable(ctx: Context) -> torch.Tensor:
        return torch.ones(1, len(ctx.features.labels))


class MultiOutputMethod(PerturbationMethod):
    """Algorithms that attribute every output at once (feature ablation, Shapley sampling)."""

    def run(self, ctx: Context, forward) -> torch.Tensor:
        raise NotImplementedError

    def attribute(self, ctx: Context) -> Attribution:
        scorer = self.scorer(ctx)
        if self.stochastic:
            seed_everything(ctx.params["perturbation_seed"])
        attr = self.run(ctx, self.forward_all(ctx, scorer)).reshape(1 + ctx.rows, -1)
        evaluations = scorer.evaluations
        complete = self.completeness(ctx, scorer, attr[0])
        attr = attr.detach().cpu().float().numpy()
        return Attribution(token_attr=attr[1:], seq_attr=attr[0], evaluations=evaluations, completeness=complete)


class SurrogateMethod(PerturbationMethod):
    """Algorithms that fit a surrogate model to one scalar (Lime, Kernel SHAP).

    Captum attributes only the whole output with these. The samples depend on the seed alone, so
    the algorithm is run once against the model (recording every output token's log-probability
    per sample) and once per output token against that record: same samples, no model calls.
    """

    stochastic = True
    defaults = SAMPLED_DEFAULTS
    minimum = SAMPLED_MINIMUM

    def algorithm(self, forward):
        raise NotImplementedError

    def fit(self, ctx: Context, forward) -> torch.Tensor:
        seed_everything(ctx.params["perturbation_seed"])
        return (
            self.algorithm(forward)
            .attribute(
                self.interpretable(ctx),
                n_samples=ctx.params["n_samples"],
                perturbations_per_eval=ctx.params["perturbations_per_eval"],
            )
            .reshape(-1)
        )

    def attribute(self, ctx: Context) -> Attribution:
        scorer = self.scorer(ctx)
        seen: dict[bytes, torch.Tensor] = {}

        def total(present: torch.Tensor) -> torch.Tensor:
            logp = scorer.score(ctx.features.perturbed_ids(present))
            for row, lp in zip(present, logp):
                seen[row.detach().cpu().bool().numpy().tobytes()] = lp
            return logp.sum(1)

        seq = self.fit(ctx, total)
        evaluations = scorer.evaluations
        rows = []
        for t in range(ctx.rows if ctx.rows > 1 else 0):  # one row: the whole-target fit is that row's

            def token(present: torch.Tensor, t: int = t) -> torch.Tensor:
                return torch.stack([seen[row.detach().cpu().bool().numpy().tobytes()][t] for row in present])

            rows.append(self.fit(ctx, token))
        if ctx.rows == 1:
            rows = [seq]
        token_attr = torch.stack(rows) if rows else torch.zeros(0, len(ctx.features.labels))
        return Attribution(
            token_attr=token_attr.detach().cpu().float().numpy(),
            seq_attr=seq.detach().cpu().float().numpy(),
            evaluations=evaluations,
            completeness=self.completeness(ctx, scorer, seq),
        )
