"""Ray, used and not re-invented: connecting to a cluster, sizing the actor pool, streaming
a job's listing through it.

Everything about scheduling, retries and node failures is Ray Data's: a fixed-size
`ActorPoolStrategy` holds one model per actor, `map_batches` feeds each actor one listed
batch at a time, and Ray Data's defaults for actor pools (`max_restarts=-1`,
`max_task_retries=-1`) replace a dead actor and retry its batch. Workers write their shards
themselves (engines/shards.py), so what comes back to the driver is one small row per batch.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..progress import progress_bar
from ..errors import UserError
from ..runtime import cpu_cores

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from .shards import JobListing

RAY_MISSING = 'the Ray engine needs Ray: pip install "deepfake-detect[ray]" (or pip install "ray[data]")'
BATCH_RESULT_COLUMNS = ("batch", "done", "bad", "worker")
"""One row per finished batch: its index, images embedded or scored, the messages of the
files it could not use, and the worker's process id."""


def require_ray() -> Any:
    """The `ray` module, or a one-line `UserError` saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise UserError(RAY_MISSING) from None
    return ray


@contextmanager
def ray_session(address: str | None = None) -> Iterator[None]:
    """Inside: connected to Ray. `address` "auto" joins the cluster this machine belongs to,
    "ray://host:10001" a remote one; None starts a local instance on this machine's cores.
    An already initialised Ray (a notebook, a test) is used as it is and left running;
    one started here is shut down on the way out."""
    ray = require_ray()
    if ray.is_initialized():
        yield
        return
    options: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING}
    if address is None:
        options["num_cpus"] = cpu_cores()
    try:
        ray.init(address=address, **options)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise UserError(f"--ray-address {address}: cannot connect to a Ray cluster ({exc})") from None
    try:
        yield
    finally:
        ray.shutdown()


@dataclass(frozen=True)
class ActorPlan:
    """A fixed pool: `actors` actors with `cpus` CPUs (= decoding and torch threads) and
    `gpus` GPUs each."""

    actors: int
    cpus: float
    gpus: float

    @property
    def threads(self) -> int:
        return max(1, math.floor(self.cpus))

    def describe(self) -> str:
        device = f", {self.gpus:g} GPU" if self.gpus else ""
        return f"{self.actors} actor{'s' if self.actors != 1 else ''} x {self.cpus:g} CPU{device}"


def plan_actors(actors: int | None = None, cpus_per_actor: float | None = None, gpus_per_actor: float | None = None) -> ActorPlan:
    """The pool for the connected cluster: by default one actor per GPU (sharing the CPUs
    between them for decoding) when the cluster has GPUs, else one single-threaded actor per
    CPU (the layout the local engine found fastest on CPUs: data-parallel, no oversubscription)."""
    ray = require_ray()
    resources = ray.cluster_resources()
    cluster_cpus, cluster_gpus = float(resources.get("CPU", 1)), float(resources.get("GPU", 0))
    if gpus_per_actor is None:
        gpus_per_actor = 1.0 if cluster_gpus >= 1 else 0.0
    if actors is None:
        if gpus_per_actor:
            actors = max(1, int(cluster_gpus // gpus_per_actor))
        else:
            actors = max(1, int(cluster_cpus // (cpus_per_actor or 1)))
    if actors < 1:
        raise UserError(f"--actors {actors}: need at least one actor")
    if cpus_per_actor is None:
        cpus_per_actor = max(1.0, math.floor(cluster_cpus / actors)) if gpus_per_actor else 1.0
    return ActorPlan(actors, float(cpus_per_actor), float(gpus_per_actor))


def run_listing(
    listing: JobListing,
    worker: type,
    worker_kwargs: dict[str, Any],
    plan: ActorPlan,
    description: str,
    show_progress: bool = True,
    on_batch: Callable[[dict[str, Any]], None] | None = None,
    on_bad: Callable[[str], None] | None = None,
) -> list[str]:
    """Run every listed batch through a pool of `worker` actors; return the bad-file messages.

    `worker(**worker_kwargs, threads=...)` is built once per actor (and again if Ray replaces
    it); calling it with a one-row pyarrow table (batch, paths, ids) writes that batch's
    shard and returns a result row (`BATCH_RESULT_COLUMNS`). The driver only counts and warns:
    `on_bad(message)` per unusable file as its batch finishes, `on_batch(row)` per batch.
    """
    if not listing.todo_batches:
        return []
    ray = require_ray()
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # ours shows images/s; Ray's would interleave with it
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    dataset = ray.data.from_arrow_refs(_listing_refs(ray, listing)).map_batches(
        worker,
        fn_constructor_kwargs={**worker_kwargs, "threads": plan.threads},
        batch_size=1,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=plan.actors),
        num_cpus=plan.cpus,
        num_gpus=plan.gpus,
    )
    bad: list[str] = []
    with progress_bar(description, total=listing.todo_items) if show_progress else _no_bar() as advance:
        try:
            for row in dataset.iter_rows():
                for message in row["bad"]:
                    bad.append(message)
                    (on_bad or log.warning)(message)
                advance(row["done"] + len(row["bad"]))
                if on_batch:
                    on_batch(row)
        except Exception as exc:
            raise _user_error_inside(exc) or exc
    return bad


def _listing_refs(ray: Any, listing: JobListing) -> list[Any]:
    """Every listed batch as its own block in Ray's object store (which spills to disk),
    read one listing part at a time: the driver keeps references only. One block per batch,
    or Ray Data hands a whole part to a single actor. Not `read_parquet`: its read tasks need
    a CPU slot, and a pool with one actor per CPU starves them (measured: a deadlock)."""
    import pyarrow.parquet as pq

    refs = []
    for part in sorted(listing.listing_dir.glob("part-*.parquet")):
        table = pq.read_table(part)
        refs += [ray.put(table.slice(row, 1)) for row in range(table.num_rows)]
    return refs


def batch_result(batch: int, done: int, bad: list[str]) -> Any:
    """What a worker returns for a finished batch (`BATCH_RESULT_COLUMNS`), as a pyarrow table."""
    import pyarrow as pa

    from .shards import arrow_text

    return pa.table({"batch": [batch], "done": [done], "bad": [[arrow_text(m) for m in bad]], "worker": [os.getpid()]})


@contextmanager
def _no_bar() -> Iterator[Callable[[int], None]]:
    yield lambda n: None


def _user_error_inside(exc: BaseException) -> UserError | None:
    """A UserError raised in an actor (e.g. weights that do not fit) comes back wrapped by
    Ray with a remote traceback: unwrap it, so the CLI prints its one line."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        cause = getattr(current, "cause", None)
        for candidate in (cause, current):
            if isinstance(candidate, UserError) and not type(candidate).__name__.startswith("RayTaskError"):
                return candidate
        current = cause if isinstance(cause, BaseException) else current.__cause__
    return None
