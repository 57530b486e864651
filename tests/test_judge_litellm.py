"""LiteLLMJudge against the same OpenAI-compatible stub on 127.0.0.1 (tests/servers).

litellm is optional: the module is skipped without it. It is not imported here at collection
time, because importing it before ``judgekit.judges.litellm`` sets the offline switches would
make it fetch its model-cost map from GitHub.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers.openai_stub import StubServer, serve_in_thread

from judgekit.errors import ConfigError, JudgeUnavailable, MissingDependencyError
from judgekit.judges import get_judge
from judgekit.judges.api_common import Backoff
from judgekit.judges.base import JudgeOptions
from judgekit.types import JudgeRequest, Message

if importlib.util.find_spec("litellm") is None:
    pytest.skip(
        "litellm is not installed (pip install 'judgekit[litellm]')", allow_module_level=True
    )

from judgekit.judges.litellm import LiteLLMJudge  # noqa: E402

FAST = Backoff(initial_s=0.001, max_s=0.01, retry_after_cap_s=1.0)
SENTINEL = "sk-judgekit-sentinel-fedcba9876543210"
MODEL = "openai/stub-judge"


@pytest.fixture(scope="module")
def stub() -> Iterator[StubServer]:
    with serve_in_thread() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_stub(stub: StubServer) -> None:
    stub.reset()


def make_judge(stub: StubServer, model: str = MODEL, **options: object) -> LiteLLMJudge:
    settings: dict[str, object] = {"max_retries": 3, "timeout_s": 5.0, "concurrency": 4}
    settings.update(options)
    return LiteLLMJudge(
        model, options=JudgeOptions(base_url=stub.base_url, **settings), backoff=FAST
    )


def choice(text: str, choices: tuple[str, ...] = ("A", "B", "C")) -> JudgeRequest:
    return JudgeRequest(messages=(Message("user", text),), choices=choices)


def generation(text: str, max_tokens: int = 64) -> JudgeRequest:
    return JudgeRequest(messages=(Message("user", text),), max_tokens=max_tokens)


def test_choice_probs_from_logprobs(stub: StubServer) -> None:
    judge = make_judge(stub)
    assert judge.id == "litellm/openai/stub-judge"
    assert judge.supports_logprobs is True
    [response] = judge.judge([choice("Compare. [[stub:A]]")])
    assert response.status == "ok" and response.text == "A"
    # A: 0.50 + " A" 0.10; B: 0.20 + " B" 0.03; C: 0.10.
    expected = {"A": 0.60 / 0.93, "B": 0.23 / 0.93, "C": 0.10 / 0.93}
    assert response.choice_probs == pytest.approx(expected)
    assert response.completion_tokens == 1
    [sent] = stub.stats()["recent"]
    assert (sent["max_tokens"], sent["logprobs"], sent["top_logprobs"]) == (1, True, 20)
    assert sent["model"] == "stub-judge"


def test_generation_text_usage_and_cost(stub: StubServer) -> None:
    # A model in litellm's bundled price map gets a cost; the stub plays gpt-4o-mini.
    judge = make_judge(stub, model="openai/gpt-4o-mini")
    [response] = judge.judge([generation("Pick. [[stub:C]]")])
    assert response.status == "ok"
    assert response.text.startswith("C\nJudgement ") and response.text.endswith("[[C]]")
    assert (response.prompt_tokens, response.completion_tokens) == (5, 13)
    assert response.cost is not None and response.cost > 0
    [unpriced] = make_judge(stub).judge([generation("x")])
    assert unpriced.status == "ok" and unpriced.cost is None


def test_repeated_batches_keep_order_and_respect_concurrency(stub: StubServer) -> None:
    stub.configure(latency_s=0.05)
    judge = make_judge(stub, concurrency=3)
    for batch in range(2):  # a second judge() reuses the same loop and litellm's clients
        letters = "ABCABC"
        responses = judge.judge(
            [choice(f"{batch}-{i} [[stub:{x}]]") for i, x in enumerate(letters)]
        )
        assert [r.text for r in responses] == list(letters)
    stats = stub.stats()
    assert stats["chat_requests"] == 12
    assert stats["max_in_flight"] == 3


def test_429_retried_with_retry_after(stub: StubServer) -> None:
    stub.enqueue(429, count=2, retry_after=0.25)
    start = time.perf_counter()
    [response] = make_judge(stub).judge([choice("[[stub:B]]")])
    assert response.status == "ok" and response.text == "B"
    assert stub.stats()["chat_requests"] == 3
    assert time.perf_counter() - start >= 0.5


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_then_success(stub: StubServer, status: int) -> None:
    stub.enqueue(status, count=2)
    [response] = make_judge(stub).judge([choice("[[stub:C]]")])
    assert response.status == "ok" and response.text == "C"
    assert stub.stats()["chat_requests"] == 3


def test_persistent_500_stops_after_max_retries_plus_one(stub: StubServer) -> None:
    stub.enqueue(500, count=10)
    [response] = make_judge(stub, max_retries=2).judge([choice("q")])
    assert response.status == "error"
    assert response.error is not None and response.error.startswith("server_error: HTTP 500")
    # litellm's own retries are off: exactly judgekit's attempts reach the server.
    assert stub.stats()["chat_requests"] == 3


def test_400_is_not_retried(stub: StubServer) -> None:
    stub.enqueue(400, count=5)
    [response] = make_judge(stub).judge([choice("q")])
    assert response.error is not None and response.error.startswith("http_error: HTTP 400")
    assert stub.stats()["chat_requests"] == 1


@pytest.mark.parametrize("fault", ["malformed", "empty_choices"])
def test_bad_bodies_are_errors_not_retried(stub: StubServer, fault: str) -> None:
    # litellm reports an unparsable body as a 500; the cause chain says what it really is.
    stub.enqueue(fault, count=5)
    [response] = make_judge(stub).judge([choice("q")])
    assert response.status == "error"
    assert response.error is not None and response.error.startswith("bad_response:")
    assert stub.stats()["chat_requests"] == 1


def test_reset_connection_is_retried(stub: StubServer) -> None:
    stub.enqueue("reset", count=2)
    [response] = make_judge(stub).judge([choice("[[stub:A]]")])
    assert response.status == "ok" and response.text == "A"
    assert stub.stats()["chat_requests"] == 3


def test_timeout_is_retried_then_reported(stub: StubServer) -> None:
    stub.enqueue("slow", count=5, delay_s=3.0)
    [response] = make_judge(stub, timeout_s=0.3, max_retries=1).judge([choice("q")])
    assert response.error is not None and response.error.startswith("timeout:")
    assert stub.stats()["chat_requests"] == 2


def test_unreachable_server_fails_at_construction() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(JudgeUnavailable, match="Is the server running"):
        LiteLLMJudge(MODEL, options=JudgeOptions(base_url=f"http://127.0.0.1:{port}/v1"))


def test_api_key_is_sent_but_never_leaked(
    stub: StubServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("JUDGEKIT_TEST_KEY", SENTINEL)
    caplog.set_level(logging.DEBUG, logger="judgekit")
    judge = make_judge(stub, api_key_env="JUDGEKIT_TEST_KEY", max_retries=1)
    stub.enqueue(401)  # echoes the key back
    stub.enqueue(429, count=2)
    responses = judge.judge([choice("q1"), choice("q2")])
    assert [r.status for r in responses] == ["error", "error"]
    assert stub.stats()["authorized"] == 3
    leaked = [json.dumps(r.__dict__) for r in responses] + [caplog.text, repr(vars(judge))]
    assert all(SENTINEL not in text for text in leaked)


def test_config_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        LiteLLMJudge("anthropic/claude-3-5-haiku-latest", options=JudgeOptions())
    with pytest.raises(ConfigError, match="cannot tell the provider"):
        LiteLLMJudge("nonsense-provider/some-model", options=JudgeOptions())
    monkeypatch.delenv("JUDGEKIT_UNSET_KEY", raising=False)
    with pytest.raises(ConfigError, match="JUDGEKIT_UNSET_KEY"):
        LiteLLMJudge("openai/gpt-4o-mini", options=JudgeOptions(api_key_env="JUDGEKIT_UNSET_KEY"))


def test_providers_without_logprobs_generate_instead(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-not-used")
    judge = LiteLLMJudge("anthropic/claude-3-5-haiku-latest", options=JudgeOptions())
    assert judge.supports_logprobs is False


def test_registry_builds_the_litellm_judge(stub: StubServer) -> None:
    judge = get_judge(f"litellm/{MODEL}", options=JudgeOptions(base_url=stub.base_url))
    assert isinstance(judge, LiteLLMJudge)
    assert judge.id == f"litellm/{MODEL}"


def test_missing_litellm_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "litellm", None)  # makes `import litellm` fail
    with pytest.raises(MissingDependencyError, match=r"pip install 'judgekit\[litellm\]'"):
        LiteLLMJudge(MODEL, options=JudgeOptions())


def test_litellm_stays_offline(stub: StubServer) -> None:
    """In a fresh process with every non-loopback connection refused, a judge call works
    and litellm reports that it used its bundled cost map."""
    script = textwrap.dedent(
        f"""
        import json, socket
        attempts = []
        real_connect = socket.socket.connect
        def guarded(self, address):
            if isinstance(address, tuple) and address[0] not in ("127.0.0.1", "::1"):
                attempts.append(address)
                raise OSError("network blocked by test")
            return real_connect(self, address)
        socket.socket.connect = guarded
        real_getaddrinfo = socket.getaddrinfo
        def getaddrinfo(host, *args, **kwargs):
            if host not in ("127.0.0.1", "localhost", "::1", None):
                attempts.append(host)
                raise socket.gaierror("DNS blocked by test")
            return real_getaddrinfo(host, *args, **kwargs)
        socket.getaddrinfo = getaddrinfo

        from judgekit.judges.base import JudgeOptions
        from judgekit.judges.litellm import LiteLLMJudge
        from judgekit.types import JudgeRequest, Message
        judge = LiteLLMJudge("openai/gpt-4o-mini", options=JudgeOptions(base_url={stub.base_url!r}))
        [r] = judge.judge([JudgeRequest(messages=(Message("user", "hi [[stub:B]]"),))])
        from litellm.litellm_core_utils import get_model_cost_map as cost_map
        source = cost_map.get_model_cost_map_source_info()["source"]
        result = {{"text": r.text, "cost": r.cost, "source": source, "attempts": attempts}}
        print(json.dumps(result))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("LITELLM_")}
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=Path(__file__).parent,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["attempts"] == []
    assert result["source"] == "local"
    assert result["text"].startswith("B\n")
    assert result["cost"] > 0
