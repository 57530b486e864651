"""What the API judges (``openai``, ``litellm``) share: one runner, one retry policy, one parser.

- ``run_batch`` runs a batch of requests under an ``asyncio.Semaphore``, retries each one with
  tenacity, and turns a request that still fails into ``JudgeResponse(status="error")``.
- ``classify`` maps whatever a client library raised to ``RateLimited``, ``JudgeTimeout`` or
  ``TransientError`` (retried) or ``PermanentError`` (not retried).
- ``chat_params`` and ``parse_completion`` turn a ``JudgeRequest`` into chat-completion
  arguments and an OpenAI-shaped completion dict back into a ``JudgeResponse``, including
  choice probabilities read from the first token's top logprobs.
- ``resolve_api_key``, ``scrub`` and ``check_reachable`` keep keys out of errors and logs and
  fail fast when a server is not running.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import functools
import ipaddress
import json
import logging
import math
import os
import re
import ssl
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import httpx
import openai
import tenacity

from judgekit.errors import ConfigError, JudgeError, JudgeTimeout, JudgeUnavailable, RateLimited
from judgekit.judges.base import JudgeOptions
from judgekit.judges.event_loop import EventLoopThread
from judgekit.types import JudgeRequest, JudgeResponse

logger = logging.getLogger("judgekit.judges")

Call = Callable[[JudgeRequest], Awaitable[JudgeResponse]]
Gate = Callable[[], AbstractAsyncContextManager[object]]
"""A limit shared beyond this process (e.g. by every worker of a cluster), held per attempt."""

TOP_LOGPROBS = 20
"""How many alternatives to ask for: the most that OpenAI and vLLM (by default) return."""
_MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class Backoff:
    """How long to wait between retries.

    Waits grow exponentially with full jitter (a random wait between 0 and
    ``min(max_s, initial_s * 2**attempt)``), so that many clients hitting one rate limit do not
    retry in lockstep. A ``Retry-After`` header wins over the exponential wait, up to
    ``retry_after_cap_s``, so that a server cannot park a run for an hour.
    """

    initial_s: float = 0.5
    max_s: float = 20.0
    retry_after_cap_s: float = 60.0


class TransientError(JudgeError):
    """A 5xx answer or a dropped connection: worth retrying."""


class PermanentError(JudgeError):
    """A 4xx answer or a malformed reply: retrying would give the same result."""


RETRYABLE = (RateLimited, JudgeTimeout, TransientError)


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) during a batch; ``answered`` holds the replies already received,
    by position in the batch, so that the caller can store calls that were paid for."""

    def __init__(self, answered: Mapping[int, JudgeResponse]) -> None:
        super().__init__()
        self.answered = dict(answered)


# ---------------------------------------------------------------------------------------------
# Error classification


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and its causes, outermost first (client libraries wrap the real cause)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _retry_after(exc: BaseException) -> float | None:
    """Seconds from a ``retry-after-ms`` or ``Retry-After`` header anywhere in the chain."""
    for link in _chain(exc):
        response = getattr(link, "response", None)
        for headers in (
            getattr(response, "headers", None),
            getattr(link, "litellm_response_headers", None),  # litellm keeps the real ones here
        ):
            if not isinstance(headers, Mapping):  # httpx.Headers is a Mapping too
                continue
            seconds = parse_retry_after(headers)
            if seconds is not None:
                return seconds
    return None


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Parse ``retry-after-ms`` (OpenAI) or ``Retry-After`` (seconds or an HTTP date)."""
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    if "retry-after-ms" in lower:
        try:
            return max(0.0, float(lower["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    value = lower.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:_MAX_ERROR_CHARS]


def classify(exc: BaseException) -> JudgeError:
    """Map a client-library exception to the judgekit error that decides whether to retry.

    The chain of causes is read before the status code because litellm reports a dropped
    connection or an invalid JSON body as a 500; those are a connection error (retried) and a
    malformed reply (not retried).
    """
    if isinstance(exc, JudgeError):
        return exc
    for link in _chain(exc):
        # asyncio.TimeoutError is not the builtin TimeoutError before Python 3.11.
        timeouts = (
            openai.APITimeoutError,
            httpx.TimeoutException,
            TimeoutError,
            asyncio.TimeoutError,
        )
        if isinstance(link, timeouts):
            return JudgeTimeout(f"timeout: {_describe(exc)}")
        if isinstance(link, (openai.APIConnectionError, httpx.TransportError, ConnectionError)):
            return TransientError(f"connection_error: {_describe(link.__cause__ or link)}")
        if isinstance(link, (json.JSONDecodeError, openai.APIResponseValidationError)):
            return PermanentError(f"bad_response: {_describe(link)}")
    status = next(
        (s for link in _chain(exc) if isinstance(s := getattr(link, "status_code", None), int)),
        None,
    )
    if status == 429:
        return RateLimited(f"rate_limited: {_describe(exc)}", retry_after=_retry_after(exc))
    if status is not None and status >= 500:
        return TransientError(f"server_error: HTTP {status}: {_describe(exc)}")
    if status is not None:
        return PermanentError(f"http_error: HTTP {status}: {_describe(exc)}")
    return PermanentError(f"error: {type(exc).__name__}: {_describe(exc)}")


# ---------------------------------------------------------------------------------------------
# Keys and reachability

_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD)$", re.IGNORECASE)


def scrub(text: str, *, key_env: str) -> str:
    """Replace API keys found in the environment with ``***``.

    Besides ``key_env`` it masks every variable that looks like a credential, because litellm
    reads provider keys (``ANTHROPIC_API_KEY`` ...) on its own and a server may echo them.
    The keys are read at call time so that judges never hold them.
    """
    secrets = {os.environ.get(key_env, "")}
    secrets.update(v for k, v in os.environ.items() if _SECRET_NAME.search(k))
    for secret in sorted((s for s in secrets if len(s) >= 8), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def is_local_url(url: str) -> bool:
    """Whether ``url`` points at this machine or a private network (self-hosted servers)."""
    host = urlsplit(url).hostname or ""
    if host in ("localhost", "0.0.0.0") or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private


def check_base_url(base_url: str) -> None:
    """Raise ``ConfigError`` unless ``base_url`` is an http(s) URL with a host."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"base URL {base_url!r} must look like 'http://127.0.0.1:8000/v1' "
            "(scheme, host and port, usually ending in /v1)"
        )


def resolve_api_key(options: JudgeOptions, *, required: bool) -> str | None:
    """The key from ``options.api_key_env``; ``"EMPTY"`` for a keyless self-hosted server.

    Raises:
        ConfigError: ``required`` and no key, and the server is not local.
    """
    key = os.environ.get(options.api_key_env) or None
    if key is None and options.base_url is not None and is_local_url(options.base_url):
        # vLLM, llama.cpp and friends accept any key, but the OpenAI client insists on one.
        return "EMPTY"
    if key is None and required:
        where = f"the server at {options.base_url}" if options.base_url else "the OpenAI API"
        raise ConfigError(
            f"{where} needs an API key: set the {options.api_key_env} environment variable "
            "(or name another variable in JudgeOptions.api_key_env)"
        )
    return key


CONNECT_TIMEOUT_S = 5.0
"""The longest the up-front reachability probe waits to connect."""
OPENAI_DEFAULT_URL = "https://api.openai.com/v1"


def default_openai_url() -> str:
    """Where the OpenAI client sends requests without a base URL (``OPENAI_BASE_URL`` wins)."""
    return os.environ.get("OPENAI_BASE_URL") or OPENAI_DEFAULT_URL


def check_reachable(
    base_url: str, *, timeout_s: float, hint: str = "Is the server running?"
) -> httpx.Response | None:
    """Fail fast when nothing listens at ``base_url``; return the ``/models`` answer.

    Any HTTP answer from ``GET {base_url}/models`` counts as reachable, errors included,
    because some servers do not implement it. The key is not sent: this probe needs none.
    Returns None when the server connected but the probe failed after that. The probe
    waits at most ``min(timeout_s, 5)`` seconds to connect, so an offline machine learns it
    at once rather than after the retries of the first batch.

    Raises:
        JudgeUnavailable: connection refused, unknown host or connect timeout; the message
            names the URL and ends with ``hint``.
    """
    check_base_url(base_url)
    url = base_url.rstrip("/") + "/models"
    wait = min(timeout_s, CONNECT_TIMEOUT_S)
    try:
        return httpx.get(url, timeout=wait, verify=shared_ssl_context())
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise JudgeUnavailable(f"cannot reach {base_url}: {_describe(exc)}. {hint}") from None
    except httpx.HTTPError as exc:
        # It connected; a slow or odd /models is the requests' problem, reported per item.
        logger.debug("probe of %s failed after connecting: %s", url, _describe(exc))
        return None


# ---------------------------------------------------------------------------------------------
# Requests and replies


def chat_params(request: JudgeRequest, *, logprobs: bool, prefill: bool) -> dict[str, Any]:
    """Chat-completion arguments for ``request`` (everything but the model and transport).

    A choice request with ``logprobs`` is one forward pass: one token at temperature 0 with
    the top logprobs of that token. Without logprobs it falls back to generation, so that
    the protocol can parse the text.

    ``request.assistant_prefix`` is sent only with ``prefill``, as a trailing assistant
    message. The chat API has no portable way to continue an assistant turn: OpenAI starts a
    new turn after it, while Anthropic (and vLLM with ``continue_final_message``) continue it.
    """
    messages = [{"role": m.role, "content": m.content} for m in request.messages]
    if prefill and request.assistant_prefix:
        messages.append({"role": "assistant", "content": request.assistant_prefix})
    if request.choices and logprobs:
        return {
            "messages": messages,
            "max_tokens": 1,
            "temperature": 0.0,
            "logprobs": True,
            "top_logprobs": TOP_LOGPROBS,
        }
    return {
        "messages": messages,
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
    }


def first_token_top_logprobs(logprobs: Any) -> list[tuple[str, float]] | None:
    """``[(token, logprob), ...]`` of the first generated token, or None when absent.

    Reads the chat shape (``{"content": [{"top_logprobs": [{"token", "logprob"}]}]}``) and
    the legacy completions shape (``{"top_logprobs": [{token: logprob}]}``) that some
    OpenAI-compatible servers still return.
    """
    if not isinstance(logprobs, Mapping):
        return None
    content = logprobs.get("content")
    if isinstance(content, list) and content and isinstance(content[0], Mapping):
        top = content[0].get("top_logprobs")
        if isinstance(top, list):
            pairs = [
                (str(t["token"]), float(t["logprob"]))
                for t in top
                if isinstance(t, Mapping) and "token" in t and _is_number(t.get("logprob"))
            ]
            return pairs or None
    legacy = logprobs.get("top_logprobs")
    if isinstance(legacy, list) and legacy and isinstance(legacy[0], Mapping):
        return [(str(k), float(v)) for k, v in legacy[0].items() if _is_number(v)] or None
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def choice_probs(
    top: Sequence[tuple[str, float]], choices: Sequence[str]
) -> dict[str, float] | None:
    """Normalised probabilities of ``choices`` among the first token's top logprobs.

    Tokens count for a choice when their stripped text equals it, so ``" A"`` and ``"A"``
    add up. Returns None when no choice appears, so that the caller parses the text instead.
    """
    mass = {choice: 0.0 for choice in choices}
    by_stripped = {choice.strip(): choice for choice in choices}
    for token, logprob in top:
        choice = by_stripped.get(token.strip())
        if choice is not None:
            mass[choice] += math.exp(logprob)
    total = sum(mass.values())
    if total <= 0.0:
        return None
    return {choice: p / total for choice, p in mass.items()}


def decode_json(text: str) -> dict[str, Any]:
    """Parse a response body, or raise ``PermanentError`` (a malformed body is not retried)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise PermanentError(
            f"bad_response: the body is not valid JSON ({exc}): {text[:200]!r}"
        ) from None
    if not isinstance(data, dict):
        raise PermanentError(f"bad_response: expected a JSON object, got {type(data).__name__}")
    return data


def parse_completion(data: Mapping[str, Any], request: JudgeRequest) -> JudgeResponse:
    """Turn an OpenAI-shaped chat completion into a ``JudgeResponse`` (latency filled later).

    Raises:
        PermanentError: no choices, or a choice without a text message.
    """
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        raise PermanentError("bad_response: the server returned no choices")
    first = choices[0]
    message = first.get("message") if isinstance(first, Mapping) else None
    if not isinstance(message, Mapping):
        raise PermanentError("bad_response: the first choice has no message")
    text = message.get("content")
    if text is None:
        text = ""  # e.g. a refusal or a tool call; the protocol records a parse failure
    if not isinstance(text, str):
        raise PermanentError(f"bad_response: message content is a {type(text).__name__}")
    top = first_token_top_logprobs(first.get("logprobs")) if request.choices else None
    usage = data.get("usage")
    usage = usage if isinstance(usage, Mapping) else {}
    return JudgeResponse(
        text=text,
        choice_probs=choice_probs(top, request.choices) if top else None,
        top_logprobs=_merge_tokens(top) if top else None,
        prompt_tokens=_count(usage.get("prompt_tokens")),
        completion_tokens=_count(usage.get("completion_tokens")),
    )


def _merge_tokens(top: Sequence[tuple[str, float]]) -> dict[str, float]:
    """token -> logprob; a token listed twice (two token ids, one text) gets both masses."""
    merged: dict[str, float] = {}
    for token, logprob in top:
        if token in merged:
            logprob = math.log(math.exp(merged[token]) + math.exp(logprob))
        merged[token] = logprob
    return merged


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# ---------------------------------------------------------------------------------------------
# The runner


class _Wait:
    """tenacity wait: the server's ``Retry-After`` (capped), else exponential full jitter."""

    def __init__(self, backoff: Backoff) -> None:
        self._backoff = backoff
        self._exponential = tenacity.wait_random_exponential(
            multiplier=backoff.initial_s, max=backoff.max_s
        )

    def __call__(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            return min(exc.retry_after, self._backoff.retry_after_cap_s)
        return float(self._exponential(state))


def _log_retry(state: tenacity.RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome is not None else None
    wait = state.next_action.sleep if state.next_action is not None else 0.0
    # The message was scrubbed when the error was built from the client's exception.
    logger.info("retrying in %.2fs after attempt %d: %s", wait, state.attempt_number, exc)


async def run_batch(
    requests: Sequence[JudgeRequest],
    call: Call,
    *,
    concurrency: int,
    max_retries: int,
    backoff: Backoff,
    key_env: str,
    gate: Gate | None = None,
    answered: dict[int, JudgeResponse] | None = None,
) -> list[JudgeResponse]:
    """Answer every request with ``call``, at most ``concurrency`` at a time, in order.

    ``gate``, when given, is entered around every attempt as well: a concurrency limit that
    many processes share, so that N workers do not multiply the rate against a provider.
    ``answered``, when given, is filled with each response (by index) as soon as it is
    final, so that an interrupted batch can still hand back what came in.

    Each request gets up to ``max_retries`` retries on 429, 5xx, timeouts and dropped
    connections. A request that still fails, or fails in a way that a retry cannot fix,
    becomes ``JudgeResponse(status="error", error="<kind>: <message>")``; the batch goes on.
    ``latency_s`` is the wall time of the request, retries and waits included.
    """
    semaphore = asyncio.Semaphore(concurrency)

    async def attempt(request: JudgeRequest) -> JudgeResponse:
        async with semaphore:  # held per attempt, so waiting out a backoff frees the slot
            try:
                if gate is not None:
                    async with gate():
                        return await call(request)
                return await call(request)
            except JudgeError as exc:
                raise _scrubbed(exc, key_env) from None
            except Exception as exc:  # any client failure is classified; none ends the batch
                error = _scrubbed(classify(exc), key_env)
                if isinstance(error, PermanentError) and str(error).startswith("error:"):
                    logger.warning("unexpected judge failure: %s", error)
                raise error from None

    async def one(request: JudgeRequest) -> JudgeResponse:
        start = time.perf_counter()
        retrying = tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(max_retries + 1),
            wait=_Wait(backoff),
            retry=tenacity.retry_if_exception_type(RETRYABLE),
            before_sleep=_log_retry,
            reraise=True,
        )
        try:
            response = await retrying(attempt, request)
        except JudgeError as exc:
            elapsed = time.perf_counter() - start
            attempts = retrying.statistics.get("attempt_number", 1)
            error = str(exc) if attempts == 1 else f"{exc} (gave up after {attempts} attempts)"
            return JudgeResponse(status="error", error=error, latency_s=elapsed)
        return dataclasses.replace(response, latency_s=time.perf_counter() - start)

    async def recorded(index: int, request: JudgeRequest) -> JudgeResponse:
        response = await one(request)
        if answered is not None:
            answered[index] = response
        return response

    return list(await asyncio.gather(*(recorded(i, r) for i, r in enumerate(requests))))


def run_interruptible(
    loop: EventLoopThread,
    batch: Callable[[dict[int, JudgeResponse]], Coroutine[Any, Any, list[JudgeResponse]]],
) -> list[JudgeResponse]:
    """Run ``batch(answered)`` on ``loop``; on Ctrl-C raise :class:`BatchInterrupted` with the
    responses that had come in."""
    answered: dict[int, JudgeResponse] = {}
    try:
        return loop.run(batch(answered))
    except BatchInterrupted:
        raise
    except KeyboardInterrupt:
        raise BatchInterrupted(dict(answered)) from None


def _scrubbed(exc: JudgeError, key_env: str) -> JudgeError:
    """The same kind of error with any API key masked in its message."""
    message = scrub(str(exc), key_env=key_env)
    if message == str(exc):
        return exc
    if isinstance(exc, RateLimited):
        return RateLimited(message, retry_after=exc.retry_after)
    return type(exc)(message)


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """httpx's default TLS context, built once: loading the CA bundle takes ~0.1 s a client."""
    return httpx.create_ssl_context()
