"""The Judge protocol: one batch-first method, capabilities as attributes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

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
    """Forward-pass batch size for in-process judges."""
    model_path: str | None = None
    """Local model folder or GGUF file for in-process judges."""
