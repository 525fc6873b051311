"""Scale-out: explain or replay many records through a pool of workers, one writer.

The driver selects the records (:mod:`.pending`), an executor computes results where the
model lives (:mod:`.executors` in this process, :mod:`.ray_executor` on a Ray cluster), and
:func:`.driver.run_batch` stores each result in its own transaction as it arrives, so the
database has exactly one writer and an interrupted run keeps everything already stored.
:mod:`.merge` gathers the databases of many serving hosts into one verified archive.
"""

from .executors import Executor, InProcessExecutor
from .summary import BatchSummary
from .work import ExplainWork, ModelSpec, Outcome, ReplayWork

__all__ = ["BatchSummary", "Executor", "ExplainWork", "InProcessExecutor", "ModelSpec", "Outcome", "ReplayWork"]
