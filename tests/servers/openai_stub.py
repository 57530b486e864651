"""A small OpenAI-compatible chat server for judge tests, with scriptable faults.

Replies are deterministic functions of the request, so tests can check exact numbers:

- The verdict letter ``X`` is ``"ABC"[int(sha256(messages)[:8], 16) % 3]``, unless the last
  message contains ``[[stub:B]]`` (any of A/B/C), which forces it.
- The first generated token is ``X``. Its top logprobs come from ``top_logprob_table(X)``,
  where, with ``Y`` and ``Z`` the letters after ``X`` in the cycle A->B->C->A:
  ``X`` 0.50, ``Y`` 0.20, ``" X"`` 0.10, ``Z`` 0.10, ``"The"`` 0.05, ``" Y"`` 0.03, then
  14 filler tokens at 0.001. Summed over stripped tokens and normalised over {A, B, C}:
  ``X`` = 0.60/0.93, ``Y`` = 0.23/0.93, ``Z`` = 0.10/0.93.
- The text is ``"X\\nJudgement <digest8>: response X is better. [[X]]"``, cut to
  ``max_tokens`` tokens (finish_reason ``"length"`` when cut).

Faults are scripted through HTTP, so they work the same in a thread or in a separate process:

- ``POST /control/faults`` ``{"faults": [{"kind": "429", "count": 2, "retry_after": 0.1}]}``
  queues faults; each chat request takes the next one. Kinds: an HTTP status (``"400"``,
  ``"401"``, ``"429"``, ``"500"``, ``"503"``...), ``"malformed"`` (invalid JSON with status
  200), ``"empty_choices"``, ``"no_logprobs"``, ``"slow"`` (sleeps ``delay_s``, default
  ``slow_s``), ``"reset"`` (drops the TCP connection with no reply) and ``"truncate"`` (sends
  the headers and half the body, then closes).
- ``POST /control/config`` ``{"fault_rate": 0.2, "seed": 0, "fault_kinds": ["429", "500"],
  "latency_s": 0.05, "slow_s": 5, "models_status": 404, "owned_by": "vllm"}``. A random fault
  hits a request when ``hash(seed, body, n) < fault_rate``, where ``n`` counts earlier copies
  of the same body. So the faults depend on the requests, not on their arrival order, and a
  retry of a failed request draws afresh. Queued faults are served first. ``owned_by`` is
  what ``/v1/models`` reports as the model's owner (a vLLM server says ``"vllm"``).
- ``POST /control/reset`` restores the launch settings and zeroes the counters.
- ``GET /stats`` returns the counters: ``chat_requests``, ``responses`` by status, ``faults``
  by kind, ``in_flight``, ``max_in_flight``, ``models_requests``, ``authorized`` (requests
  that carried an Authorization header) and the ``recent`` request bodies (the last 200).

Run it as a process::

    python tests/servers/openai_stub.py --port 8123 --fault-rate 0.2 --seed 0

or from Python with ``serve_in_thread()`` / ``serve_in_process()``, which yield a
``StubServer`` handle (``base_url``, ``stats()``, ``enqueue()``, ``configure()``, ``reset()``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import re
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

LETTERS = ("A", "B", "C")
FILLERS = (
    "Assistant", "Response", "Based", "In", "Looking", "After", "Both",
    "Comparing", "Overall", "First", "Second", "Let", "Here", "My",
)  # fmt: skip
STATUS_MESSAGES = {
    400: ("invalid_request_error", "Invalid request (stub)"),
    401: ("invalid_request_error", "Incorrect API key provided"),
    403: ("permission_error", "Forbidden (stub)"),
    404: ("invalid_request_error", "The model does not exist (stub)"),
    422: ("invalid_request_error", "Unprocessable entity (stub)"),
    429: ("rate_limit_error", "Rate limit reached (stub)"),
    500: ("server_error", "Internal server error (stub)"),
    502: ("server_error", "Bad gateway (stub)"),
    503: ("server_error", "Service unavailable (stub)"),
    504: ("server_error", "Gateway timeout (stub)"),
}
NAMED_FAULTS = ("malformed", "empty_choices", "no_logprobs", "slow", "reset", "truncate")
_FORCED = re.compile(r"\[\[stub:([ABC])\]\]")


def _check_kind(kind: str) -> str:
    if kind in NAMED_FAULTS or (kind.isdigit() and 400 <= int(kind) <= 599):
        return kind
    raise ValueError(f"unknown fault kind {kind!r}; use an HTTP status 400-599 or {NAMED_FAULTS}")


@dataclass(frozen=True)
class Fault:
    """One scripted failure. ``retry_after`` only applies to status faults."""

    kind: str
    retry_after: float | None = None
    delay_s: float | None = None


@dataclass
class StubConfig:
    """Settings that ``/control/config`` may change and ``/control/reset`` restores."""

    fault_rate: float = 0.0
    seed: int = 0
    fault_kinds: tuple[str, ...] = ("429", "500", "503")
    latency_s: float = 0.0
    """Sleep before every chat reply, so that concurrent requests overlap."""
    slow_s: float = 30.0
    """How long a ``slow`` fault sleeps unless the fault says otherwise."""
    models_status: int = 200
    owned_by: str = "judgekit"
    """The ``owned_by`` of the ``/v1/models`` entry; a vLLM server reports ``"vllm"``."""


@dataclass
class StubState:
    launch: StubConfig
    config: StubConfig = field(init=False)
    queue: deque[Fault] = field(default_factory=deque)
    seen: Counter[str] = field(default_factory=Counter)
    counters: Counter[str] = field(default_factory=Counter)
    responses: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    max_in_flight: int = 0
    recent: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=200))

    def __post_init__(self) -> None:
        self.config = dataclasses.replace(self.launch)

    def reset(self) -> None:
        """Back to the launch settings. ``in_flight`` is a live gauge, so it survives."""
        fresh = StubState(self.launch)
        fresh.in_flight = fresh.max_in_flight = self.in_flight
        self.__dict__.update(fresh.__dict__)

    def next_fault(self, body_digest: str) -> Fault | None:
        """Take the next queued fault, else draw a seeded random one for this body."""
        if self.queue:
            return self.queue.popleft()
        cfg = self.config
        n = self.seen[body_digest]
        self.seen[body_digest] += 1
        if cfg.fault_rate <= 0 or not cfg.fault_kinds:
            return None
        key = f"{cfg.seed}:{body_digest}:{n}".encode()
        draw = hashlib.sha256(key).digest()
        if int.from_bytes(draw[:8], "big") / 2**64 >= cfg.fault_rate:
            return None
        return Fault(cfg.fault_kinds[int.from_bytes(draw[8:12], "big") % len(cfg.fault_kinds)])


# ---------------------------------------------------------------------------------------------
# Deterministic replies


# judgekit fences untrusted text with a secret tag that is new on every call
# (``<<<BEGIN RESPONSE A 3f9c...>>>``); the stub reads past it, as a judge at temperature 0
# would answer the same question the same way whatever the tag, and as a cache hit does.
_FENCE_TAG = re.compile(r"(<<<(?:BEGIN|END) [^<>\n]* )[0-9a-f]{16}(>>>)")


def messages_digest(messages: list[dict[str, Any]]) -> str:
    canonical = json.dumps(messages, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    canonical = _FENCE_TAG.sub(r"\1-\2", canonical)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def verdict_letter(messages: list[dict[str, Any]]) -> str:
    """The letter the stub prefers: forced by ``[[stub:X]]`` in the last message, else hashed."""
    if messages:
        forced = _FORCED.search(str(messages[-1].get("content", "")))
        if forced:
            return forced.group(1)
    return LETTERS[int(messages_digest(messages)[:8], 16) % 3]


def top_logprob_table(letter: str) -> list[tuple[str, float]]:
    """The first token's distribution as (token, probability), most likely first."""
    i = LETTERS.index(letter)
    x, y, z = LETTERS[i], LETTERS[(i + 1) % 3], LETTERS[(i + 2) % 3]
    head = [(x, 0.50), (y, 0.20), (" " + x, 0.10), (z, 0.10), ("The", 0.05), (" " + y, 0.03)]
    return head + [(f, 0.001) for f in FILLERS]


def completion_tokens(letter: str, digest: str) -> list[str]:
    return [letter, "\n", "Judgement", f" {digest[:8]}", ":", " response", f" {letter}",
            " is", " better", ".", " [[", letter, "]]"]  # fmt: skip


def _entry(token: str, logprob: float, top: list[dict[str, Any]]) -> dict[str, Any]:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode()), "top_logprobs": top}


def build_completion(body: dict[str, Any], *, with_logprobs: bool = True) -> dict[str, Any]:
    """The chat completion the stub returns for a valid request body."""
    messages = body["messages"]
    digest = messages_digest(messages)
    letter = verdict_letter(messages)
    tokens = completion_tokens(letter, digest)
    limit = body.get("max_completion_tokens") or body.get("max_tokens") or len(tokens)
    emitted = tokens[: max(1, int(limit))]
    logprobs = None
    if with_logprobs and body.get("logprobs"):
        k = int(body.get("top_logprobs") or 0)
        table = top_logprob_table(letter)
        first_top = [_top(t, p) for t, p in table[:k]]
        content = [_entry(letter, math.log(table[0][1]), first_top)]
        content += [_entry(t, 0.0, [_top(t, 1.0)][:k]) for t in emitted[1:]]
        logprobs = {"content": content}
    prompt_tokens = sum(len(str(m.get("content", "")).split()) + 3 for m in messages)
    return {
        "id": f"chatcmpl-stub-{digest[:12]}",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": body.get("model", "stub"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(emitted)},
                "logprobs": logprobs,
                "finish_reason": "length" if len(emitted) < len(tokens) else "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(emitted),
            "total_tokens": prompt_tokens + len(emitted),
        },
    }


def _top(token: str, p: float) -> dict[str, Any]:
    return {"token": token, "logprob": math.log(p), "bytes": list(token.encode())}


def _error(status: int, message: str, **headers: str) -> JSONResponse:
    kind, _ = STATUS_MESSAGES.get(status, ("server_error" if status >= 500 else "error", ""))
    payload = {"error": {"message": message, "type": kind, "param": None, "code": str(status)}}
    return JSONResponse(payload, status_code=status, headers=headers)


# ---------------------------------------------------------------------------------------------
# Fault responses


class _TruncatedResponse(Response):
    """Announces the whole body in Content-Length, sends half, then stops (uvicorn closes)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        half = self.body[: len(self.body) // 2]
        await send({"type": "http.response.body", "body": half, "more_body": True})


async def _reset_connection(request: Request) -> bool:
    """Drop the TCP connection with an RST and no reply.

    ASGI has no way to do this, so it reaches uvicorn's transport through the ``receive``
    callable, which is a bound method of uvicorn's request cycle. Returns False when that is
    not available (another server), and the caller then truncates instead.
    """
    cycle = getattr(request.receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if not isinstance(transport, asyncio.Transport):
        return False
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # Linger 0 makes close() send RST instead of FIN: the client sees a reset.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    for _ in range(3):  # let uvicorn process connection_lost, so it sends nothing more
        await asyncio.sleep(0)
    return True


class ClientGone(Exception):
    """The client hung up (e.g. it timed out) while the stub was sleeping."""


async def _sleep(request: Request, seconds: float) -> None:
    """Sleep, but stop as soon as the client disconnects, so a timed-out request does not
    linger and answer into the next test's counters."""

    async def disconnected() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    sleeper = asyncio.ensure_future(asyncio.sleep(seconds))
    watcher = asyncio.ensure_future(disconnected())
    done, pending = await asyncio.wait({sleeper, watcher}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    if watcher in done:
        raise ClientGone


async def _faulty_reply(
    request: Request, fault: Fault, body: dict[str, Any], state: StubState
) -> Response | None:
    """The response for ``fault``; None means "answer normally" (after any delay)."""
    kind = fault.kind
    if kind.isdigit():
        status = int(kind)
        message = STATUS_MESSAGES.get(status, ("", f"HTTP {status} (stub)"))[1]
        if status == 401:
            # Like some proxies, echo the key back, so tests can prove that judges scrub it.
            message += f": {request.headers.get('authorization', '').removeprefix('Bearer ')}"
        headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
        return _error(status, message, **headers)
    if kind == "malformed":
        return Response(b'{"id": "chatcmpl-broken", "choices": [', media_type="application/json")
    if kind == "empty_choices":
        payload = build_completion(body)
        payload["choices"] = []
        return JSONResponse(payload)
    if kind == "no_logprobs":
        return JSONResponse(build_completion(body, with_logprobs=False))
    if kind == "slow":
        await _sleep(request, state.config.slow_s if fault.delay_s is None else fault.delay_s)
        return None
    if kind == "reset" and await _reset_connection(request):
        return Response(status_code=499)  # never sent: the connection is gone
    payload_bytes = json.dumps(build_completion(body)).encode()
    return _TruncatedResponse(payload_bytes, media_type="application/json")


# ---------------------------------------------------------------------------------------------
# The app


def create_app(config: StubConfig | None = None) -> Starlette:
    """Build the ASGI app. Its state lives in ``app.state.stub``."""
    state = StubState(config or StubConfig())

    async def chat(request: Request) -> Response:
        state.counters["chat_requests"] += 1
        state.in_flight += 1
        state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            response = await _chat(request)
        except ClientGone:
            state.responses["client_gone"] += 1
            return Response(status_code=499)  # nobody is listening any more
        finally:
            state.in_flight -= 1
        # 499 marks a reset connection, which sent no status at all.
        state.responses["reset" if response.status_code == 499 else str(response.status_code)] += 1
        return response

    async def _chat(request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            return _error(400, "request body is not valid JSON")
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return _error(400, "'messages' must be a list")
        if int(body.get("top_logprobs") or 0) > 20:
            return _error(400, "top_logprobs must be at most 20")
        state.recent.append(body)
        if request.headers.get("authorization"):
            state.counters["authorized"] += 1
        if state.config.latency_s > 0:
            await _sleep(request, state.config.latency_s)
        fault = state.next_fault(hashlib.sha256(raw).hexdigest())
        if fault is not None:
            state.faults[fault.kind] += 1
            reply = await _faulty_reply(request, fault, body, state)
            if reply is not None:
                return reply
        return JSONResponse(build_completion(body))

    async def models(request: Request) -> Response:
        state.counters["models_requests"] += 1
        if state.config.models_status != 200:
            return _error(state.config.models_status, "models listing disabled (stub)")
        owner = state.config.owned_by
        data = [{"id": "stub-judge", "object": "model", "created": 0, "owned_by": owner}]
        return JSONResponse({"object": "list", "data": data})

    async def stats(request: Request) -> Response:
        return JSONResponse(
            {
                "chat_requests": state.counters["chat_requests"],
                "models_requests": state.counters["models_requests"],
                "authorized": state.counters["authorized"],
                "responses": dict(state.responses),
                "faults": dict(state.faults),
                "queued_faults": len(state.queue),
                "in_flight": state.in_flight,
                "max_in_flight": state.max_in_flight,
                "config": dataclasses.asdict(state.config),
                "recent": list(state.recent),
            }
        )

    async def control_faults(request: Request) -> Response:
        body = await request.json()
        try:
            for spec in body.get("faults", []):
                fault = Fault(
                    _check_kind(str(spec["kind"])), spec.get("retry_after"), spec.get("delay_s")
                )
                state.queue.extend([fault] * int(spec.get("count", 1)))
        except (KeyError, ValueError, TypeError) as exc:
            return _error(400, f"bad fault spec: {exc}")
        return JSONResponse({"queued_faults": len(state.queue)})

    async def control_config(request: Request) -> Response:
        body = await request.json()
        try:
            if "fault_kinds" in body:
                body["fault_kinds"] = tuple(_check_kind(str(k)) for k in body["fault_kinds"])
            state.config = dataclasses.replace(state.config, **body)
        except (TypeError, ValueError) as exc:
            return _error(400, f"bad config: {exc}")
        return JSONResponse(dataclasses.asdict(state.config))

    async def control_reset(request: Request) -> Response:
        state.reset()
        return JSONResponse({"reset": True})

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/stats", stats, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
            Route("/control/faults", control_faults, methods=["POST"]),
            Route("/control/config", control_config, methods=["POST"]),
            Route("/control/reset", control_reset, methods=["POST"]),
        ]
    )
    app.state.stub = state
    return app


# ---------------------------------------------------------------------------------------------
# Handles for tests


class StubServer:
    """A running stub. ``base_url`` is what a judge's ``JudgeOptions.base_url`` takes."""

    def __init__(self, url: str) -> None:
        self.url = url
        # One client for all control calls: building one loads the CA bundle (~0.1 s).
        self._http = httpx.Client(base_url=url, timeout=5)

    def __repr__(self) -> str:
        return f"StubServer({self.url!r})"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def close(self) -> None:
        self._http.close()

    def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        response = self._http.post(path, json=payload)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._http.get("/stats").json()
        return result

    def reset(self) -> None:
        self._post("/control/reset", {})

    def enqueue(
        self,
        kind: str | int,
        *,
        count: int = 1,
        retry_after: float | None = None,
        delay_s: float | None = None,
    ) -> None:
        """Make the next ``count`` chat requests fail with ``kind``."""
        spec = {"kind": str(kind), "count": count, "retry_after": retry_after, "delay_s": delay_s}
        self._post("/control/faults", {"faults": [spec]})

    def configure(self, **config: Any) -> dict[str, Any]:
        """Change ``StubConfig`` fields, e.g. ``fault_rate=0.2, seed=0, latency_s=0.05``."""
        return self._post("/control/config", config)


def _bind(port: int) -> socket.socket:
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on sockets that say so, and
    # without it every keep-alive reply waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(512)
    return sock


class _DeliberateTruncation(logging.Filter):
    """Drop uvicorn's error line for the responses that ``truncate`` cuts on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("ASGI callable returned without completing")


def _uvicorn(config: StubConfig, log_level: str) -> uvicorn.Server:
    app = create_app(config)
    error_log = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DeliberateTruncation) for f in error_log.filters):
        error_log.addFilter(_DeliberateTruncation())
    return uvicorn.Server(
        uvicorn.Config(
            app,
            log_level=log_level,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
    )


@contextlib.contextmanager
def serve_in_thread(
    config: StubConfig | None = None, *, log_level: str = "critical"
) -> Iterator[StubServer]:
    """Run the stub on a free port of 127.0.0.1 in a daemon thread; stop it on exit."""
    sock = _bind(0)
    server = _uvicorn(config or StubConfig(), log_level)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("openai stub did not start")
            time.sleep(0.01)
        stub = StubServer(f"http://127.0.0.1:{sock.getsockname()[1]}")
        try:
            yield stub
        finally:
            stub.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextlib.contextmanager
def serve_in_process(*args: str, port: int = 0, timeout_s: float = 20) -> Iterator[StubServer]:
    """Run the stub as ``python openai_stub.py --port PORT ARGS...``; stop it on exit."""
    cmd = [sys.executable, __file__, "--port", str(port), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the server prints its URL once it listens
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        if not match:
            raise RuntimeError(f"openai stub failed to start (exit {proc.poll()}): {line!r}")
        stub = StubServer(match.group(0))
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    if stub._http.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise
                time.sleep(0.05)
            yield stub
        finally:
            stub.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=8123, help="0 picks a free port")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="share of requests to fail")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random faults")
    parser.add_argument("--fault-kinds", default="429,500,503", help="comma-separated kinds")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each reply")
    parser.add_argument("--slow", type=float, default=30.0, help="seconds a 'slow' fault sleeps")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    config = StubConfig(
        fault_rate=args.fault_rate,
        seed=args.seed,
        fault_kinds=tuple(_check_kind(k.strip()) for k in args.fault_kinds.split(",") if k),
        latency_s=args.latency,
        slow_s=args.slow,
    )
    sock = _bind(args.port)
    # The socket already listens, so connections queue up until uvicorn accepts them.
    print(f"openai_stub listening on http://127.0.0.1:{sock.getsockname()[1]}/v1", flush=True)
    _uvicorn(config, args.log_level).run(sockets=[sock])


if __name__ == "__main__":
    main()
