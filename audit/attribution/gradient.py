"""Gradient methods on the input embeddings, summed over the embedding dimension (as Captum does)."""

from __future__ import annotations

import numpy as np
import torch

from .base import Attribution, AttributionMethod, Context, completeness


class GradientMethod(AttributionMethod):
    kind = "gradient"

    @staticmethod
    def grouped(ctx: Context, per_position: torch.Tensor) -> np.ndarray:
        """(n_out, seq) per-position attributions -> (n_out, n_features), summing each feature's tokens."""
        columns = [per_position[:, group].sum(1) for group in ctx.features.groups]
        out = torch.stack(columns, dim=1) if columns else per_position[:, :0]
        return out.detach().cpu().float().numpy()

    @staticmethod
    def engine(ctx: Context):
        """The target's engine (:class:`.embedding_gradients.EmbeddingGradients` or :class:`.contrast.ContrastGradients`)."""
        return ctx.target.gradients(ctx.model, ctx.features.input_ids, ctx.pad_id)

    @staticmethod
    def baseline_ids(ctx: Context, engine) -> torch.Tensor:
        """Every attributable prompt position replaced by the baseline token (Captum's all-absent input)."""
        ids = engine.ids.clone()
        ids[0, ctx.features.positions] = ctx.features.baseline_token
        return ids

    def result(
        self, ctx: Context, per_position: torch.Tensor, ends: torch.Tensor | None = None, **extra
    ) -> Attribution:
        """``ends``: (2, rows) scores of the input and of the all-baseline prompt, for the completeness gap."""
        token_attr = self.grouped(ctx, per_position)
        if ends is not None:
            extra["completeness"] = completeness(float(token_attr.sum()), float(ends[0].sum()), float(ends[1].sum()))
        return Attribution(token_attr=token_attr, seq_attr=token_attr.sum(0), **extra)
