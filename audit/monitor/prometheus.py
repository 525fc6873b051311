"""Decision metrics for Prometheus: counters and histograms of the decisions recorded since the process started.

``llm_audit_decisions_total{use_case,label}``, ``llm_audit_decision_margin{use_case}`` (log-odds of the
decision over the runner-up) and ``llm_audit_decision_label_mass{use_case}`` (the probability of the
labels at the start of the answer, summed over them). They are brought up to date at scrape time
from the database (the records stored after the last scrape, read through the store like every other
reader), so the request path does no extra work and the server, the proxy and the workspace count the
same way, whichever process wrote the records. Label values are bounded: at most
:data:`MAX_USE_CASES` use cases and :data:`MAX_LABELS` labels per use case by name (the first seen),
the rest counted as ``other``, and names cut to 60 characters.
"""

from __future__ import annotations

import threading
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram

from ..store import AuditStore
from .stats import MARGIN_EDGES
from .tally import label_mass

MAX_USE_CASES, MAX_LABELS, MAX_NAME = 20, 10, 60
OTHER = "other"
MASS_BUCKETS = tuple(i / 10 for i in range(1, 11))


class DecisionMetrics:
    def __init__(self, db_path: Path, registry: CollectorRegistry) -> None:
        self.db_path = db_path
        self.lock = threading.Lock()
        self.seen_seq = 0  # the newest record folded in: at start, the newest stored (counted from here on)
        if db_path.exists():
            with AuditStore.open(db_path) as store:
                self.seen_seq = store.monitoring.last_seq()
        self.use_cases: set[str] = set()
        self.labels: dict[str, set[str]] = {}
        self.decisions = Counter(
            "llm_audit_decisions", "Recorded decisions by use case and chosen label", ["use_case", "label"],
            registry=registry,
        )  # fmt: skip
        self.margin = Histogram(
            "llm_audit_decision_margin", "Decision margin: log-odds of the chosen label over the runner-up",
            ["use_case"], buckets=MARGIN_EDGES[1:-1], registry=registry,
        )  # fmt: skip
        self.label_mass = Histogram(
            "llm_audit_decision_label_mass", "Probability of the labels at the start of the answer, summed over them",
            ["use_case"], buckets=MASS_BUCKETS, registry=registry,
        )  # fmt: skip

    def _case(self, name: str) -> str:
        name = name[:MAX_NAME]
        if name not in self.use_cases and len(self.use_cases) >= MAX_USE_CASES:
            return OTHER
        self.use_cases.add(name)
        return name

    def _label(self, case: str, name: str) -> str:
        name, known = name[:MAX_NAME], self.labels.setdefault(case, set())
        if name not in known and len(known) >= MAX_LABELS:
            return OTHER
        known.add(name)
        return name

    def update(self) -> int:
        """Fold in the decisions stored since the last call (or since the process started); how many."""
        if not self.db_path.exists():
            return 0
        with self.lock, AuditStore.open(self.db_path) as store:
            folded = 0
            while rows := store.monitoring.decisions_after(self.seen_seq):
                for row in rows:
                    case = self._case(row.use_case)
                    self.decisions.labels(case, self._label(case, row.decision.chosen)).inc()
                    self.margin.labels(case).observe(row.decision.margin)
                    self.label_mass.labels(case).observe(label_mass(row.decision.label_logprobs))
                    self.seen_seq = row.seq
                folded += len(rows)
            return folded
