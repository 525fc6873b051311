"""One module per attribution method; importing this package registers them all (default first)."""
from . import feature_ablation, shapley_sampling, lime, kernel_shap, integrated_gradients, gradient_x_input  # noqa: F401
