"""The ``counterfactuals`` table: one row per counterfactual run on a record (:mod:`audit.counterfactual`)."""

from __future__ import annotations

from ..counterfactual.result import CounterfactualResult
from .documents import DocumentRepository, register_documents

TABLE = "counterfactuals"
register_documents(TABLE, about_record=True)


class CounterfactualRepository(DocumentRepository):
    kind = "counterfactual"
    table = TABLE
    result_type = CounterfactualResult
