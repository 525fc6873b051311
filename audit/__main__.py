"""``python -m audit`` runs the CLI (same as the ``llm-audit`` console script)."""

from .cli import main

main()
