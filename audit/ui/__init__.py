"""The review workspace: a web application over :class:`audit.review.service.Reviews` (``llm-audit ui``).

It sits above the façade beside the CLI and holds no logic of its own: it authenticates the
request, turns forms and JSON into calls of the review API, and renders the answers with the
templates in ``reports/templates/ui/``, which include the report templates themselves.
"""
