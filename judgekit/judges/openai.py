"""``openai/<model>``: any OpenAI-compatible chat endpoint (OpenAI, ``vllm serve``, llama.cpp...).

Choice verdicts come from one token's top logprobs; everything else is generation. ``judge()``
is synchronous; inside, requests run concurrently (``JudgeOptions.concurrency``) on judgekit's
API event loop, with retries on 429, 5xx, timeouts and dropped connections only.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import openai

from judgekit.judges.api_common import (
    Backoff,
    chat_params,
    check_base_url,
    check_reachable,
    decode_json,
    parse_completion,
    resolve_api_key,
    run_batch,
    shared_loop,
    shared_ssl_context,
)
from judgekit.judges.base import ClosesOnExit, JudgeOptions
from judgekit.types import JudgeRequest, JudgeResponse


class OpenAIJudge(ClosesOnExit):
    """A judge behind an OpenAI-compatible ``/v1/chat/completions`` endpoint.

    Args:
        model: the model name the server knows, e.g. ``gpt-4o-mini`` or ``Qwen/Qwen3-8B``.
        options: ``base_url`` (None means the OpenAI API), ``api_key_env``, ``concurrency``,
            ``max_retries`` and ``timeout_s`` are read.
        backoff: waits between retries; tests pass tiny ones.
        prefill: send ``request.assistant_prefix`` as a trailing assistant message. Off by
            default because OpenAI starts a new turn after it instead of continuing it.

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
        prefill: bool = False,
    ) -> None:
        self.model = model
        self.id = f"openai/{model}"
        self.options = options
        self.backoff = backoff or Backoff()
        self.prefill = prefill
        # A few batches in flight per slot keeps the semaphore busy between judge() calls.
        self.batch_size = options.concurrency * 4
        if options.base_url is not None:
            check_base_url(options.base_url)
        resolve_api_key(options, required=True)  # fail now rather than once per item
        if options.base_url is not None:
            check_reachable(options.base_url, timeout_s=options.timeout_s)
        # One client for the judge's life: connections and TLS sessions carry across batches.
        self._slot = _ClientSlot()
        weakref.finalize(self, self._slot.close_soon)

    def judge(self, requests: Sequence[JudgeRequest]) -> list[JudgeResponse]:
        """One response per request, in order; failures are ``status="error"`` responses."""
        if not requests:
            return []
        return shared_loop().run(self._judge(list(requests)))

    def close(self) -> None:
        """Close the HTTP client and its connections (also done when the judge is collected)."""
        client = self._slot.take()
        if client is not None:
            shared_loop().run(client.close())

    async def _judge(self, requests: list[JudgeRequest]) -> list[JudgeResponse]:
        client = self._slot.get(self._new_client)

        async def call(request: JudgeRequest) -> JudgeResponse:
            params: dict[str, Any] = chat_params(request, logprobs=True, prefill=self.prefill)
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
        )

    def _new_client(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            base_url=self.options.base_url,
            api_key=resolve_api_key(self.options, required=True),
            timeout=self.options.timeout_s,
            max_retries=0,  # run_batch retries, on judgekit's policy
            http_client=openai.DefaultAsyncHttpxClient(verify=shared_ssl_context()),
        )


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
