"""One module per attribution method; importing this package registers them all (default first)."""

from . import feature_ablation, gradient_x_input, integrated_gradients, kernel_shap, lime, shapley_sampling  # noqa: F401
