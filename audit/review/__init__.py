"""The review workspace's logic: roles and permissions, accounts, the queue, sign-offs, findings, jobs.

Everything a compliance officer does in the web workspace (``audit/ui/``) or with ``llm-audit
review`` / ``llm-audit users`` is decided here, below the façade, and stored through the store's
repositories: the web application and the CLI only translate requests and show results. The
entry point is :class:`audit.review.service.Reviews`, which ``Auditor.reviews`` returns.
"""
