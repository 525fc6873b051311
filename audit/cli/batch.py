"""Options and exit codes shared by the batch commands ``explain --all`` and ``replay --all``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ..errors import UserError

if TYPE_CHECKING:
    from ..auditor import Auditor


def executor_options(func):
    """--executor/--address/--workers/--cpus-per-worker, shared by ``explain --all`` and ``replay --all``."""
    func = click.option(
        "--cpus-per-worker",
        type=float,
        default=1,
        show_default=True,
        help="With --executor ray: CPUs Ray reserves per worker (torch threads = this).",
    )(func)
    func = click.option(
        "--workers",
        type=int,
        default=None,
        help="With --executor ray: number of workers [cluster CPUs / --cpus-per-worker].",
    )(func)
    func = click.option(
        "--address",
        default=None,
        help="With --executor ray: cluster address (auto, ray://host:10001) [a new local Ray].",
    )(func)
    func = click.option(
        "--executor",
        type=click.Choice(["in-process", "ray"]),
        default="in-process",
        show_default=True,
        help="With --all: where the model runs; the database is written by this process only.",
    )(func)
    return func


def make_executor(auditor: Auditor, executor: str, address: str | None, workers: int | None, cpus_per_worker: float):
    """The executor a batch command asked for; Ray is imported only here, only for ``ray``."""
    if executor != "ray":
        if address is not None or workers is not None:
            raise UserError("--address and --workers only apply with --executor ray")
        return None
    from ..scale.ray_executor import RayExecutor

    return RayExecutor(auditor.model_spec(), address=address, workers=workers, cpus_per_worker=cpus_per_worker)


def batch_exit_code(summary) -> int:
    return 130 if summary.interrupted else (1 if summary.failures else 0)
