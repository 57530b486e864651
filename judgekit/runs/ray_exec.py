"""Judge on a Ray cluster: the same plan and the same store, many judge replicas.

:class:`RayJudge` is a :class:`~judgekit.judges.base.Judge` whose batches run on Ray. The
driver (this process) plans, checks the store's cache in :func:`judgekit.runs.runner.execute`,
sends only the uncached requests, and writes every result itself: the store keeps one writer,
and its rows and content-hash keys are those of a local run, so a run started locally resumes
on Ray and the other way round.

- Local-model judges (hf, vllm, and the fakes) run in a pool of actors, one per replica, each
  loading the model once. Actors rather than Ray Data ``map_batches``: the runner needs every
  batch back as soon as it is done, tied to its request positions, to store it and advance the
  progress bar; a killed actor is restarted and its pending batches are re-sent by Ray
  (``max_restarts``, ``max_task_retries``); and no Arrow conversion of the nested requests or
  dataset materialisation goes through a small object store.
- API judges (openai, litellm) run as Ray tasks. Every attempt of every task takes a permit
  from one limiter actor, so ``--concurrency`` is the limit across the cluster, not per
  worker; the retry policy is the judge's own (``api_common.run_batch``), and a task whose
  worker dies is re-run by Ray (``max_retries``).

Ray is imported only here (``pip install 'judgekit[ray]'``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import judgekit
from judgekit.errors import ConfigError, JudgeUnavailable, MissingDependencyError

try:
    import ray
    from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise MissingDependencyError("--ray", extra="ray", module="ray") from exc

from judgekit.judges.base import ClosesOnExit, Judge, JudgeOptions
from judgekit.judges.registry import get_judge
from judgekit.types import JudgeRequest, JudgeResponse

API_PROVIDERS = frozenset({"openai", "litellm"})
"""Providers whose calls go to an endpoint: Ray tasks under one shared limit."""

# Environment that workers need to find the same models offline as the driver.
_FORWARDED_ENV = ("HF_HUB_OFFLINE", "HF_HOME", "TRANSFORMERS_OFFLINE", "JUDGEKIT_CACHE_DIR")
_ADDRESS = re.compile(r"auto|local|ray://\S+|[\w.\-]+:\d+")


def check_address(address: str) -> str:
    """``auto``, ``local``, ``ray://HOST:PORT`` or ``HOST:PORT``; anything else is a usage error."""
    if not _ADDRESS.fullmatch(address):
        raise ConfigError(
            f"--ray {address!r} is not a Ray address: use auto (join the running cluster), "
            "ray://HOST:10001 (a remote cluster), HOST:PORT (a cluster's GCS), or no value "
            "(start a local one); write --ray=ADDRESS or put --ray after the input files"
        )
    return address


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide to judge on Ray (CLI: ``--ray``, ``--replicas``, ``--replica-*``)."""

    address: str = "local"
    """``local`` starts a Ray instance in this process; else as :func:`check_address`."""
    replicas: int = 2
    """Model replicas (actors) for local-model judges; tasks in flight for API judges."""
    replica_cpus: float = 1.0
    replica_gpus: float = 0.0
    num_cpus: int | None = None
    """CPUs of a locally started instance (default: this machine's)."""
    object_store_mb: int = 200
    """Object store of a locally started instance; batches of prompts are small."""
    max_retries: int = 3
    """Restarts of a dead replica, and re-sends of the batches it held."""
    in_flight: int = 2
    """Batches queued per replica, so that a replica never waits for the driver."""
    load_timeout_s: float = 900.0
    """How long replicas may take to start and load their model."""

    def __post_init__(self) -> None:
        check_address(self.address)
        if self.replicas < 1:
            raise ConfigError(f"--replicas must be at least 1, got {self.replicas}")
        if self.replica_cpus < 0 or self.replica_gpus < 0:
            raise ConfigError("--replica-cpus and --replica-gpus must not be negative")
        if self.in_flight < 1 or self.max_retries < 0:
            raise ConfigError("in_flight must be at least 1 and max_retries not negative")


# ---------------------------------------------------------------------------------------------
# The Ray session: joined or started once per process, shut down with its last judge

_session: dict[str, Any] = {"users": 0, "started": False}


def _runtime_env() -> dict[str, Any]:
    # Ship this judgekit to the workers, so that they run the driver's code even where the
    # cluster's environment holds another checkout; its dependencies come from that environment.
    env = {k: os.environ[k] for k in _FORWARDED_ENV if k in os.environ}
    return {
        "py_modules": [str(Path(judgekit.__file__).parent)],
        "excludes": ["__pycache__", "*.pyc"],
        "env_vars": env,
    }


def _connect(options: RayOptions) -> None:
    if _session["users"] == 0 and not ray.is_initialized():
        common: dict[str, Any] = {
            "runtime_env": _runtime_env(),
            "log_to_driver": True,
            "logging_level": "WARNING",
        }
        if options.address == "local":
            ray.init(
                address="local",  # a new instance, even where `ray start` runs one already
                num_cpus=options.num_cpus or os.cpu_count() or 1,
                object_store_memory=options.object_store_mb * 2**20,
                include_dashboard=False,
                **common,
            )
        else:
            ray.init(address=options.address, **common)
        _session["started"] = True
    _session["users"] += 1


def _disconnect() -> None:
    _session["users"] = max(0, _session["users"] - 1)
    if _session["users"] == 0 and _session["started"]:
        _session["started"] = False
        ray.shutdown()


def _where() -> str:
    """This process's node, as an error message names it."""
    node_id = ray.get_runtime_context().get_node_id()[:12]
    host = socket.gethostname()
    return f"node {ray.util.get_node_ip_address()} ({host}, id {node_id}), pid {os.getpid()}"


def _describe(judge: Judge) -> dict[str, Any]:
    return {
        "id": judge.id,
        "supports_logprobs": judge.supports_logprobs,
        "batch_size": judge.batch_size,
    }


# ---------------------------------------------------------------------------------------------
# Workers: a model replica (actor), API-judge tasks and their shared limiter


class _Replica:
    """One copy of a local-model judge; Ray restarts it (and reloads) if its process dies."""

    def __init__(self, judge_id: str, options_json: str) -> None:
        self.where = _where()
        self.error: str | None = None
        self.judge: Judge | None = None
        try:
            self.judge = get_judge(judge_id, options=JudgeOptions.model_validate_json(options_json))
        except Exception as exc:  # reported by info(), with the node, instead of a dead actor
            self.error = f"{type(exc).__name__}: {exc}"

    def info(self) -> dict[str, Any]:
        described = _describe(self.judge) if self.judge is not None else {}
        return {"where": self.where, "pid": os.getpid(), "error": self.error, **described}

    def judge_batch(self, requests: list[JudgeRequest]) -> list[JudgeResponse]:
        if self.judge is None:
            raise JudgeUnavailable(f"replica on {self.where} has no judge: {self.error}")
        return self.judge.judge(requests)


class _Limiter:
    """Permits for API calls across the cluster, leased so that a dead worker's expire."""

    def __init__(self, permits: int, lease_s: float) -> None:
        self.permits = permits
        self.lease_s = lease_s
        self.leases: dict[str, float] = {}
        self.peak = 0
        self.changed = asyncio.Condition()

    def _reap(self) -> None:
        # An attempt cannot outlive its request timeout: a lease past it was never released.
        now = time.monotonic()
        for token in [t for t, deadline in self.leases.items() if deadline < now]:
            del self.leases[token]

    async def acquire(self) -> str:
        async with self.changed:
            while True:
                self._reap()
                if len(self.leases) < self.permits:
                    token = uuid.uuid4().hex
                    self.leases[token] = time.monotonic() + self.lease_s
                    self.peak = max(self.peak, len(self.leases))
                    return token
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.changed.wait(), timeout=1.0)

    async def release(self, token: str) -> None:
        async with self.changed:
            self.leases.pop(token, None)
            self.changed.notify()

    async def peak_in_flight(self) -> int:
        return self.peak


class _RayGate:
    """``api_common.Gate`` backed by the limiter actor."""

    def __init__(self, limiter: Any) -> None:
        self.limiter = limiter

    @contextlib.asynccontextmanager
    async def __call__(self) -> AsyncIterator[None]:
        token = await self.limiter.acquire.remote()
        try:
            yield
        finally:
            await self.limiter.release.remote(token)


_api_judges: dict[tuple[str, str], Judge] = {}


def _api_judge(judge_id: str, options_json: str, limiter: Any) -> Judge:
    # One client per worker process and judge: keep-alive connections outlive a task.
    key = (judge_id, options_json)
    if key not in _api_judges:
        _api_judges[key] = get_judge(
            judge_id, options=JudgeOptions.model_validate_json(options_json)
        )
    judge = _api_judges[key]
    # Set per task: a later run of the same driver has its own limiter.
    judge.gate = _RayGate(limiter)  # type: ignore[attr-defined]
    return judge


def _api_info(judge_id: str, options_json: str, limiter: Any) -> dict[str, Any]:
    try:
        judge = _api_judge(judge_id, options_json, limiter)
    except Exception as exc:
        return {"where": _where(), "pid": os.getpid(), "error": f"{type(exc).__name__}: {exc}"}
    return {"where": _where(), "pid": os.getpid(), "error": None, **_describe(judge)}


def _api_batch(
    judge_id: str, options_json: str, limiter: Any, requests: list[JudgeRequest]
) -> list[JudgeResponse]:
    return _api_judge(judge_id, options_json, limiter).judge(requests)


# ---------------------------------------------------------------------------------------------
# The driver side


@dataclass
class RayStats:
    """Counters of the driver, for the benchmark and the closing line of a run."""

    batches: int = 0
    calls: int = 0
    driver_s: float = 0.0
    """Seconds the driver spent submitting and collecting, waits for the cluster excluded."""
    wait_s: float = 0.0
    replica_pids: list[int] = field(default_factory=list)


class RayJudge(ClosesOnExit):
    """A judge whose batches run on Ray replicas; :func:`~judgekit.runs.runner.execute`
    streams its results (``judge_stream``) and stores them as they arrive.

    Raises:
        ConfigError: bad options, or replicas that cannot fit on the local instance.
        JudgeUnavailable: a replica could not load its judge (the message names its node),
            or replicas did not start within ``load_timeout_s``.
    """

    def __init__(
        self,
        judge_id: str,
        *,
        options: JudgeOptions | None = None,
        ray_options: RayOptions | None = None,
    ) -> None:
        self.ray_options = ray_options or RayOptions()
        self.options = options or JudgeOptions()
        self.judge_id = judge_id
        self.stats = RayStats()
        self._options_json = self.options.model_dump_json()
        self._actors: list[Any] = []
        self._limiter: Any = None
        self._api = judge_id.partition("/")[0] in API_PROVIDERS
        self._connected = False
        _connect(self.ray_options)
        self._connected = True
        try:
            self._check_fits()
            info = self._start_api() if self._api else self._start_replicas()
        except BaseException:
            self.close()
            raise
        self.id: str = info["id"]
        self.supports_logprobs: bool = info["supports_logprobs"]
        # The batch each worker call gets: the judge's own batch size.
        self.batch_size: int = max(1, int(info["batch_size"]))

    # -- start -------------------------------------------------------------------------------

    def _check_fits(self) -> None:
        opts = self.ray_options
        total = ray.cluster_resources()
        cpus, gpus = total.get("CPU", 0.0), total.get("GPU", 0.0)
        need_cpus = opts.replicas * opts.replica_cpus
        need_gpus = 0.0 if self._api else opts.replicas * opts.replica_gpus
        if need_cpus > cpus + 1e-9 or need_gpus > gpus + 1e-9:
            raise ConfigError(
                f"--replicas {opts.replicas} x (--replica-cpus {opts.replica_cpus:g}, "
                f"--replica-gpus {opts.replica_gpus:g}) needs {need_cpus:g} CPUs and "
                f"{need_gpus:g} GPUs; the Ray cluster has {cpus:g} CPUs and {gpus:g} GPUs"
            )

    def _wait_ready(self, refs: list[Any]) -> list[dict[str, Any]]:
        try:
            infos = ray.get(refs, timeout=self.ray_options.load_timeout_s)
        except GetTimeoutError:
            raise JudgeUnavailable(
                f"{self.judge_id}: Ray replicas did not start within "
                f"{self.ray_options.load_timeout_s:g} s (is the cluster busy?)"
            ) from None
        except (RayActorError, RayTaskError) as exc:
            raise JudgeUnavailable(
                f"{self.judge_id}: a Ray replica died while starting: {exc}"
            ) from None
        for info in infos:
            if info["error"] is not None:
                raise JudgeUnavailable(
                    f"{self.judge_id}: the replica on {info['where']} could not load the "
                    f"judge: {info['error']}"
                )
        return infos

    def _start_replicas(self) -> dict[str, Any]:
        opts = self.ray_options
        replica = ray.remote(_Replica).options(
            num_cpus=opts.replica_cpus,
            num_gpus=opts.replica_gpus,
            max_restarts=opts.max_retries,
            max_task_retries=opts.max_retries,
        )
        self._actors = [
            replica.remote(self.judge_id, self._options_json) for _ in range(opts.replicas)
        ]
        infos = self._wait_ready([a.info.remote() for a in self._actors])
        self.stats.replica_pids = [i["pid"] for i in infos]
        return infos[0]

    def _start_api(self) -> dict[str, Any]:
        opts = self.ray_options
        # A permit is held for one attempt, which its request timeout bounds.
        lease_s = self.options.timeout_s + 30.0
        limiter = ray.remote(_Limiter).options(num_cpus=0, max_concurrency=10_000)
        self._limiter = limiter.remote(self.options.concurrency, lease_s)
        info_task = ray.remote(_api_info).options(num_cpus=opts.replica_cpus)
        infos = self._wait_ready(
            [info_task.remote(self.judge_id, self._options_json, self._limiter)]
        )
        return infos[0]

    def peak_in_flight(self) -> int:
        """The most API calls that were in flight at once across the cluster."""
        if self._limiter is None:
            return 0
        return int(ray.get(self._limiter.peak_in_flight.remote()))

    # -- judge -------------------------------------------------------------------------------

    def _submit(self, slot: int, requests: list[JudgeRequest]) -> Any:
        opts = self.ray_options
        if self._api:
            # An API call needs no accelerator: --replica-gpus is for model replicas.
            task = ray.remote(_api_batch).options(
                num_cpus=opts.replica_cpus, max_retries=opts.max_retries
            )
            return task.remote(self.judge_id, self._options_json, self._limiter, requests)
        return self._actors[slot].judge_batch.remote(requests)

    def judge_stream(
        self, requests: Sequence[JudgeRequest]
    ) -> Iterator[tuple[list[int], list[JudgeResponse]]]:
        """Yield ``(positions, responses)`` per batch as the replicas finish them."""
        opts = self.ray_options
        # Smaller batches than the judge's when there are few requests, so that every
        # replica gets work; never larger, which would change what a forward pass holds.
        share = -(-len(requests) // (opts.replicas * opts.in_flight))
        size = max(1, min(self.batch_size, share))
        pending = deque(
            list(range(start, min(start + size, len(requests))))
            for start in range(0, len(requests), size)
        )
        in_flight: dict[Any, tuple[int, list[int]]] = {}
        mark = time.perf_counter()

        def submit(slot: int) -> None:
            positions = pending.popleft()
            ref = self._submit(slot, [requests[i] for i in positions])
            in_flight[ref] = (slot, positions)

        try:
            for _ in range(opts.in_flight):
                for slot in range(opts.replicas):
                    if pending:
                        submit(slot)
            while in_flight:
                waited = time.perf_counter()
                self.stats.driver_s += waited - mark
                ready, _ = ray.wait(list(in_flight), num_returns=1)
                mark = time.perf_counter()
                self.stats.wait_s += mark - waited
                ref = ready[0]
                slot, positions = in_flight.pop(ref)
                try:
                    responses = ray.get(ref)
                except RayActorError as exc:
                    raise JudgeUnavailable(
                        f"{self.id}: Ray replica {slot} is gone after {opts.max_retries} "
                        f"restarts: {exc}"
                    ) from None
                except RayTaskError as exc:
                    raise JudgeUnavailable(f"{self.id}: a Ray worker failed: {exc}") from None
                if pending:
                    submit(slot)
                self.stats.batches += 1
                self.stats.calls += len(positions)
                self.stats.driver_s += time.perf_counter() - mark
                yield positions, responses
                mark = time.perf_counter()
        finally:
            for ref in in_flight:  # the consumer stopped (error, Ctrl-C): drop the rest
                with contextlib.suppress(Exception):
                    ray.cancel(ref)

    def judge(self, requests: Sequence[JudgeRequest]) -> list[JudgeResponse]:
        """One response per request, in order (for callers that do not stream)."""
        out: list[JudgeResponse | None] = [None] * len(requests)
        for positions, responses in self.judge_stream(requests):
            for i, response in zip(positions, responses, strict=True):
                out[i] = response
        return [r for r in out if r is not None]

    def close(self) -> None:
        """Stop the replicas (and the Ray instance this process started, with its last judge)."""
        actors, self._actors = self._actors, []
        limiter, self._limiter = self._limiter, None
        if ray.is_initialized():
            for actor in [*actors, *([limiter] if limiter is not None else [])]:
                with contextlib.suppress(Exception):
                    ray.kill(actor)
        if self._connected:
            self._connected = False
            _disconnect()
