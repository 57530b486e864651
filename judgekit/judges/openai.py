"""``openai/<model>``: any OpenAI-compatible chat endpoint (OpenAI, ``vllm serve``, llama.cpp...).

Choice verdicts come from one token's top logprobs; everything else is generation. ``judge()``
is synchronous; inside, requests run concurrently (``JudgeOptions.concurrency``) on judgekit's
API event loop, with retries on 429, 5xx, timeouts and dropped connections only.

Against a vLLM server (its ``/v1/models`` entries say ``owned_by: "vllm"``) the request's
``assistant_prefix`` is sent as a final assistant message that vLLM continues
(``continue_final_message``), so the verdict token is read at the same place as in process
(``hf``, ``vllm``). Other servers get the messages without it, as OpenAI would start a new
assistant turn after a trailing assistant message instead of continuing it.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import openai

from judgekit.judges.api_common import (
    Backoff,
    Gate,
    chat_params,
    check_base_url,
    check_reachable,
    decode_json,
    default_openai_url,
    parse_completion,
    resolve_api_key,
    run_batch,
    run_interruptible,
    shared_ssl_context,
)
from judgekit.judges.base import ClosesOnExit, JudgeOptions
from judgekit.judges.event_loop import shared_loop
from judgekit.types import JudgeRequest, JudgeResponse

CONTINUE_FINAL_MESSAGE = {"add_generation_prompt": False, "continue_final_message": True}
"""Extra chat-completion fields that make vLLM continue the last assistant message."""
PREFILL_SUFFIX = "+prefill"
"""Appended to the judge id when the prefix is sent: the request hash includes the id, so
verdicts cached from the same prompts without the prefix (a different question) are not reused."""


class OpenAIJudge(ClosesOnExit):
    """A judge behind an OpenAI-compatible ``/v1/chat/completions`` endpoint.

    Args:
        model: the model name the server knows, e.g. ``gpt-4o-mini`` or ``Qwen/Qwen3-8B``.
        options: ``base_url`` (None means the OpenAI API), ``api_key_env``, ``concurrency``,
            ``max_retries`` and ``timeout_s`` are read.
        backoff: waits between retries; tests pass tiny ones.
        prefill: send ``request.assistant_prefix`` as a trailing assistant message. None (the
            default) turns it on for a vLLM server, which is also asked to continue that
            message, and off elsewhere, because OpenAI starts a new turn after it instead of
            continuing it. With prefill on, the judge id is ``openai/<model>+prefill``.

    Raises:
        ConfigError: no API key for a remote server, or a malformed ``base_url``.
        JudgeUnavailable: nothing listens at ``base_url``.
    """

    supports_logprobs = True
    supports_guided_choice = False

    def __init__(
        self,
        model: str,
        *,
        options: JudgeOptions,
        backoff: Backoff | None = None,
        prefill: bool | None = None,
    ) -> None:
        self.model = model
        self.options = options
        self.backoff = backoff or Backoff()
        # A few batches in flight per slot keeps the semaphore busy between judge() calls.
        self.batch_size = options.concurrency * 4
        # A cluster-wide limit, set by the distributed runner; None in one process.
        self.gate: Gate | None = None
        if options.base_url is not None:
            check_base_url(options.base_url)
        resolve_api_key(options, required=True)  # fail now rather than once per item
        self.served_by_vllm = False
        if options.base_url is not None:
            listing = check_reachable(options.base_url, timeout_s=options.timeout_s)
            self.served_by_vllm = served_by_vllm(listing)
        else:
            # Without this probe an offline machine learns it only after a batch of requests
            # has timed out and been retried (minutes), with nothing on screen.
            check_reachable(
                default_openai_url(),
                timeout_s=options.timeout_s,
                hint="Is this machine online? For a local or self-hosted server, pass "
                "--base-url, e.g. --base-url http://127.0.0.1:8000/v1.",
            )
        self.prefill = self.served_by_vllm if prefill is None else prefill
        self.id = f"openai/{model}{PREFILL_SUFFIX if self.prefill else ''}"
        # One client for the judge's life: connections and TLS sessions carry across batches.
        self._slot = _ClientSlot()
        weakref.finalize(self, self._slot.close_soon)

    def judge(self, requests: Sequence[JudgeRequest]) -> list[JudgeResponse]:
        """One response per request, in order; failures are ``status="error"`` responses."""
        if not requests:
            return []
        return run_interruptible(shared_loop(), lambda done: self._judge(list(requests), done))

    def close(self) -> None:
        """Close the HTTP client and its connections (also done when the judge is collected)."""
        client = self._slot.take()
        if client is not None:
            shared_loop().run(client.close())

    async def _judge(
        self, requests: list[JudgeRequest], answered: dict[int, JudgeResponse]
    ) -> list[JudgeResponse]:
        client = self._slot.get(self._new_client)

        async def call(request: JudgeRequest) -> JudgeResponse:
            params: dict[str, Any] = chat_params(request, logprobs=True, prefill=self.prefill)
            if self.prefill and self.served_by_vllm and request.assistant_prefix:
                params["extra_body"] = CONTINUE_FINAL_MESSAGE
            # The raw response lets a malformed body surface as such, not as a parse crash.
            raw = await client.chat.completions.with_raw_response.create(model=self.model, **params)
            return parse_completion(decode_json(raw.http_response.text), request)

        return await run_batch(
            requests,
            call,
            concurrency=self.options.concurrency,
            max_retries=self.options.max_retries,
            backoff=self.backoff,
            key_env=self.options.api_key_env,
            gate=self.gate,
            answered=answered,
        )

    def _new_client(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            base_url=self.options.base_url,
            api_key=resolve_api_key(self.options, required=True),
            timeout=self.options.timeout_s,
            max_retries=0,  # run_batch retries, on judgekit's policy
            http_client=openai.DefaultAsyncHttpxClient(verify=shared_ssl_context()),
        )


def served_by_vllm(listing: httpx.Response | None) -> bool:
    """Whether a ``GET /v1/models`` answer comes from vLLM: every entry says ``owned_by: "vllm"``.

    Anything else (an error status, a body that is not a model list, other owners) is read
    as "not vLLM", which keeps the portable request shape.
    """
    if listing is None or listing.status_code != 200:
        return False
    try:
        data = listing.json().get("data")
    except (ValueError, AttributeError):
        return False
    if not isinstance(data, list) or not data:
        return False
    return all(isinstance(entry, dict) and entry.get("owned_by") == "vllm" for entry in data)


class _ClientSlot:
    """A judge's client and the loop it was made on.

    Kept apart from the judge so that a ``weakref.finalize`` can close the client when the
    judge is collected without keeping the judge alive.
    """

    def __init__(self) -> None:
        self._client: openai.AsyncOpenAI | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self, factory: Callable[[], openai.AsyncOpenAI]) -> openai.AsyncOpenAI:
        """The client for the running loop, made anew if the loop changed (after a fork)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client, self._loop = factory(), loop
        assert self._client is not None
        return self._client

    def take(self) -> openai.AsyncOpenAI | None:
        client, self._client, self._loop = self._client, None, None
        return client

    def close_soon(self) -> None:
        loop = self._loop
        client = self.take()
        if client is not None and loop is not None and not loop.is_closed():
            asyncio.run_coroutine_threadsafe(client.close(), loop)
