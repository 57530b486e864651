"""The Judge protocol: one batch-first method, capabilities as attributes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from types import TracebackType
from typing import Any, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from judgekit.types import JudgeRequest, JudgeResponse


@runtime_checkable
class Judge(Protocol):
    """A judge answers a batch of requests, one response per request, in order.

    A judge never raises for a single bad item: it returns a ``JudgeResponse`` with
    ``status="error"``. It raises only when the whole backend is unusable
    (``JudgeUnavailable``, ``MissingDependencyError``).
    """

    id: str
    supports_logprobs: bool
    batch_size: int

    def judge(self, requests: Sequence[JudgeRequest]) -> list[JudgeResponse]: ...


@dataclass
class InProcessStats:
    """Cumulative counters of an in-process judge (hf, vllm), for benchmarks and progress.

    Backends subclass it with counters of their own engine.
    """

    load_s: float = 0.0
    """Seconds the constructor spent loading (and, the first time, converting) the model."""
    converted: bool = False
    """Whether the constructor had to de-quantise a GGUF because no cache existed."""
    judge_s: float = 0.0
    """Wall time inside ``judge()``."""
    n_requests: int = 0
    n_errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def reset(self) -> None:
        """Zero the per-call counters (load figures are kept)."""
        for f in fields(self):
            if f.name not in ("load_s", "converted"):
                setattr(self, f.name, f.default)


_J = TypeVar("_J", bound="ClosesOnExit")


class ClosesOnExit:
    """``with judge: ...`` releases the judge's resources (``close()``) on the way out."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _J) -> _J:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class JudgeOptions(BaseModel):
    """Options shared by judge backends; each backend reads the ones it understands."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str | None = None
    """Base URL of an OpenAI-compatible server, e.g. ``http://127.0.0.1:8000/v1``."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable that holds the API key. Keys are never stored."""
    concurrency: int = Field(default=8, ge=1)
    """Requests in flight at once for API judges."""
    max_retries: int = Field(default=5, ge=0)
    """Retries on 429, 5xx and timeouts only."""
    timeout_s: float = Field(default=60.0, gt=0)
    """Per-request timeout for API judges."""
    batch_size: int = Field(default=8, ge=1)
    """Forward-pass batch size for in-process judges (hf: the most rows per forward when set)."""
    max_batch_tokens: int | None = Field(default=None, ge=1)
    """Padded tokens per forward pass (rows x longest row) for in-process judges, which sort
    the whole plan by length and cut it under this budget; None: the backend's default."""
    model_path: str | None = None
    """Local model folder or GGUF file for in-process judges."""
    engine: dict[str, Any] = Field(default_factory=dict)
    """Engine options of in-process engines, by name (CLI: ``--judge-opt KEY=VALUE``).

    Only the vllm backend reads them (``max_model_len``, ``dtype``, ``tensor_parallel_size``,
    ``gpu_memory_utilization`` ...); the registry refuses them for any other backend rather
    than ignore what the user asked for."""
