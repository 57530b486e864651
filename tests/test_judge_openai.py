"""OpenAIJudge against a real OpenAI-compatible HTTP server on 127.0.0.1 (tests/servers).

The stub's logprobs are fixed (see ``servers.openai_stub``): with ``X`` the verdict letter
and ``Y``, ``Z`` the next ones in A->B->C->A, the first token's top logprobs hold ``X`` 0.50,
``Y`` 0.20, ``" X"`` 0.10, ``Z`` 0.10, ``"The"`` 0.05 and ``" Y"`` 0.03.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import socket
import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from servers.openai_stub import StubServer, serve_in_process, serve_in_thread

from judgekit.errors import ConfigError, JudgeUnavailable, RateLimited
from judgekit.judges import get_judge
from judgekit.judges.api_common import (
    Backoff,
    PermanentError,
    TransientError,
    choice_probs,
    classify,
    first_token_top_logprobs,
    parse_retry_after,
    scrub,
)
from judgekit.judges.base import JudgeOptions
from judgekit.judges.openai import OpenAIJudge
from judgekit.types import JudgeRequest, Message

FAST = Backoff(initial_s=0.001, max_s=0.01, retry_after_cap_s=1.0)
SENTINEL = "sk-judgekit-sentinel-0123456789abcdef"


@pytest.fixture(scope="module")
def stub() -> Iterator[StubServer]:
    with serve_in_thread() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_stub(stub: StubServer) -> None:
    stub.reset()


def make_judge(stub: StubServer, **options: object) -> OpenAIJudge:
    settings: dict[str, object] = {"max_retries": 3, "timeout_s": 5.0, "concurrency": 4}
    settings.update(options)
    return OpenAIJudge(
        "stub-judge", options=JudgeOptions(base_url=stub.base_url, **settings), backoff=FAST
    )


def choice(text: str, choices: tuple[str, ...] = ("A", "B", "C")) -> JudgeRequest:
    return JudgeRequest(messages=(Message("user", text),), choices=choices)


def generation(text: str = "Which answer is better?", max_tokens: int = 64) -> JudgeRequest:
    return JudgeRequest(
        messages=(Message("system", "You are a judge."), Message("user", text)),
        max_tokens=max_tokens,
        temperature=0.7,
    )


# ---------------------------------------------------------------------------------------------
# Replies


def test_choice_probs_sum_stripped_tokens_and_normalise(stub: StubServer) -> None:
    [response] = make_judge(stub).judge([choice("Compare them. [[stub:B]]")])
    assert response.status == "ok"
    assert response.text == "B"
    # B: 0.50 + " B" 0.10; C: 0.20 + " C" 0.03; A: 0.10; over 0.93 in all.
    assert response.choice_probs == pytest.approx(
        {"A": 0.10 / 0.93, "B": 0.60 / 0.93, "C": 0.23 / 0.93}
    )
    assert response.top_logprobs is not None
    assert response.top_logprobs["B"] == pytest.approx(math.log(0.5))
    assert response.top_logprobs[" B"] == pytest.approx(math.log(0.1))
    assert (response.prompt_tokens, response.completion_tokens) == (6, 1)
    assert response.latency_s > 0
    assert response.cost is None
    [sent] = stub.stats()["recent"]
    assert sent["max_tokens"] == 1
    assert sent["temperature"] == 0
    assert sent["logprobs"] is True
    assert sent["top_logprobs"] == 20
    assert sent["model"] == "stub-judge"


def test_choice_probs_over_a_subset_of_letters(stub: StubServer) -> None:
    [response] = make_judge(stub).judge([choice("[[stub:C]]", choices=("A", "B"))])
    # X=C, Y=A, Z=B: A gets 0.20 + 0.03, B gets 0.10.
    assert response.choice_probs == pytest.approx({"A": 0.23 / 0.33, "B": 0.10 / 0.33})


def test_no_choice_in_top_logprobs_gives_none_and_text(stub: StubServer) -> None:
    [response] = make_judge(stub).judge([choice("[[stub:A]]", choices=("yes", "no"))])
    assert response.status == "ok"
    assert response.choice_probs is None
    assert response.text == "A"


def test_server_without_logprobs_gives_none_and_text(stub: StubServer) -> None:
    stub.enqueue("no_logprobs")
    [response] = make_judge(stub).judge([choice("[[stub:C]]")])
    assert (response.status, response.text, response.choice_probs) == ("ok", "C", None)
    assert response.top_logprobs is None


def test_generation_returns_text_and_usage(stub: StubServer) -> None:
    [response] = make_judge(stub).judge([generation("Pick one. [[stub:A]]")])
    assert response.status == "ok"
    assert response.text.startswith("A\nJudgement ")
    assert response.text.endswith("response A is better. [[A]]")
    assert response.choice_probs is None and response.top_logprobs is None
    assert response.completion_tokens == 13
    assert response.prompt_tokens == 4 + 3 + 3 + 3
    [sent] = stub.stats()["recent"]
    assert sent["max_tokens"] == 64
    assert sent["temperature"] == 0.7
    assert "logprobs" not in sent
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]


def test_generation_respects_max_tokens(stub: StubServer) -> None:
    [response] = make_judge(stub).judge([generation("[[stub:B]]", max_tokens=3)])
    assert response.text == "B\nJudgement"
    assert response.completion_tokens == 3


VLLM_FLAGS = ("add_generation_prompt", "continue_final_message")


def verdict_request(text: str = "Which is better? [[stub:B]]") -> JudgeRequest:
    """A pairwise-style choice request: the verdict letter continues the assistant prefix."""
    return JudgeRequest(
        messages=(Message("user", text),),
        choices=("A", "B"),
        assistant_prefix="The better response is Response",
        max_tokens=1,
    )


def test_assistant_prefix_is_not_sent_to_a_server_other_than_vllm(stub: StubServer) -> None:
    # The stub's /v1/models says owned_by "judgekit": OpenAI proper would open a new turn
    # after a trailing assistant message, so the portable request leaves it out.
    judge = make_judge(stub)
    assert (judge.id, judge.prefill, judge.served_by_vllm) == ("openai/stub-judge", False, False)
    [response] = judge.judge([verdict_request()])
    [sent] = stub.stats()["recent"]
    assert [m["role"] for m in sent["messages"]] == ["user"]
    assert not set(VLLM_FLAGS) & set(sent)
    assert response.choice_probs == pytest.approx({"A": 0.10 / 0.70, "B": 0.60 / 0.70})


def test_vllm_server_is_asked_to_continue_the_assistant_prefix(stub: StubServer) -> None:
    stub.configure(owned_by="vllm")
    judge = make_judge(stub)
    assert (judge.id, judge.prefill, judge.served_by_vllm) == (
        "openai/stub-judge+prefill",
        True,
        True,
    )
    request = verdict_request()
    [response, _] = judge.judge([request, generation("[[stub:A]]")])
    sent = {m["messages"][0]["role"]: m for m in stub.stats()["recent"]}
    choice_body, generation_body = sent["user"], sent["system"]
    assert choice_body["messages"] == [
        {"role": "user", "content": request.messages[0].content},
        {"role": "assistant", "content": "The better response is Response"},
    ]
    assert choice_body["continue_final_message"] is True
    assert choice_body["add_generation_prompt"] is False
    assert (choice_body["max_tokens"], choice_body["top_logprobs"]) == (1, 20)
    # The stub reads [[stub:X]] from the last message, now the prefix, which has none; the
    # hash of the messages then makes X = A.
    assert response.choice_probs == pytest.approx({"A": 0.60 / 0.83, "B": 0.23 / 0.83})
    # A request without a prefix (generation) is the plain chat request.
    assert [m["role"] for m in generation_body["messages"]] == ["system", "user"]
    assert not set(VLLM_FLAGS) & set(generation_body)


def test_prefill_changes_the_request_hash(stub: StubServer) -> None:
    # Cached verdicts of the prefix-less request must not answer the continued one.
    request = verdict_request()
    plain = make_judge(stub).id
    stub.configure(owned_by="vllm")
    continued = make_judge(stub).id
    assert request.hash_for(plain) != request.hash_for(continued)


def test_prefill_can_be_forced_either_way(stub: StubServer) -> None:
    options = JudgeOptions(base_url=stub.base_url)
    request = verdict_request()
    # On: the trailing assistant message, without vLLM's fields on a server that is not vLLM.
    forced = OpenAIJudge("stub-judge", options=options, prefill=True)
    assert forced.id == "openai/stub-judge+prefill"
    forced.judge([request])
    stub.configure(owned_by="vllm")
    # Off on a vLLM server: the portable request, under the plain id.
    off = OpenAIJudge("stub-judge", options=options, prefill=False)
    assert off.id == "openai/stub-judge"
    off.judge([request])
    prefilled, plain = stub.stats()["recent"]
    assert prefilled["messages"][-1] == {"role": "assistant", "content": request.assistant_prefix}
    assert not set(VLLM_FLAGS) & set(prefilled)
    assert [m["role"] for m in plain["messages"]] == ["user"]
    assert not set(VLLM_FLAGS) & set(plain)


@pytest.mark.parametrize(
    ("config", "expected"),
    [({"models_status": 404}, False), ({}, True)],
    ids=["no-model-list", "owned-by-vllm"],
)
def test_vllm_is_detected_only_from_a_model_list(
    stub: StubServer, config: dict[str, object], expected: bool
) -> None:
    stub.configure(owned_by="vllm", **config)
    assert make_judge(stub).served_by_vllm is expected


def test_batch_keeps_order(stub: StubServer) -> None:
    letters = "ABCCBAABACBC"
    requests = [choice(f"item {i} [[stub:{x}]]") for i, x in enumerate(letters)]
    responses = make_judge(stub, concurrency=5).judge(requests)
    assert [r.text for r in responses] == list(letters)
    assert make_judge(stub).judge([]) == []


def test_concurrency_bound_is_respected(stub: StubServer) -> None:
    stub.configure(latency_s=0.1)
    judge = make_judge(stub, concurrency=3)
    assert judge.batch_size == 12
    responses = judge.judge([choice(f"q{i}") for i in range(12)])
    assert all(r.status == "ok" for r in responses)
    stats = stub.stats()
    assert stats["chat_requests"] == 12
    assert stats["max_in_flight"] == 3


def test_judge_works_inside_a_running_event_loop(stub: StubServer) -> None:
    judge = make_judge(stub)

    async def inside() -> str:
        return judge.judge([choice("[[stub:C]]")])[0].text

    assert asyncio.run(inside()) == "C"


def test_registry_builds_the_openai_judge(stub: StubServer) -> None:
    judge = get_judge("openai/stub-judge", options=JudgeOptions(base_url=stub.base_url))
    assert isinstance(judge, OpenAIJudge)
    assert judge.id == "openai/stub-judge"
    assert judge.supports_logprobs is True


# ---------------------------------------------------------------------------------------------
# Retries


def test_429_is_retried_and_retry_after_honoured(stub: StubServer) -> None:
    stub.enqueue(429, count=2, retry_after=0.25)
    start = time.perf_counter()
    [response] = make_judge(stub).judge([choice("[[stub:A]]")])
    elapsed = time.perf_counter() - start
    assert response.status == "ok" and response.text == "A"
    assert stub.stats()["chat_requests"] == 3
    # Two waits of 0.25 s: far longer than the 0.01 s that the backoff alone would allow.
    assert elapsed >= 0.5
    assert response.latency_s >= 0.5


def test_429_without_retry_after_uses_backoff(stub: StubServer) -> None:
    stub.enqueue(429, count=2)
    start = time.perf_counter()
    [response] = make_judge(stub).judge([choice("q")])
    assert response.status == "ok"
    assert stub.stats()["chat_requests"] == 3
    assert time.perf_counter() - start < 2.0  # generous: CI machines are busy


def test_retry_after_is_capped(stub: StubServer) -> None:
    stub.enqueue(429, retry_after=3600)
    options = JudgeOptions(base_url=stub.base_url, max_retries=2)
    capped = Backoff(initial_s=0.001, max_s=0.01, retry_after_cap_s=0.1)
    start = time.perf_counter()
    [response] = OpenAIJudge("m", options=options, backoff=capped).judge([choice("q")])
    assert response.status == "ok"
    assert time.perf_counter() - start < 3.0  # far below the 3600 s asked for


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_then_success(stub: StubServer, status: int) -> None:
    stub.enqueue(status, count=2)
    [response] = make_judge(stub).judge([choice("[[stub:B]]")])
    assert response.status == "ok" and response.text == "B"
    assert stub.stats()["chat_requests"] == 3


@pytest.mark.parametrize("max_retries", [0, 2])
def test_persistent_500_fails_after_max_retries_plus_one_attempts(
    stub: StubServer, max_retries: int
) -> None:
    stub.enqueue(500, count=10)
    [response] = make_judge(stub, max_retries=max_retries).judge([choice("q")])
    assert response.status == "error"
    assert response.error is not None and response.error.startswith("server_error: HTTP 500")
    if max_retries:
        assert response.error.endswith(f"(gave up after {max_retries + 1} attempts)")
    assert stub.stats()["chat_requests"] == max_retries + 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_4xx_is_not_retried(stub: StubServer, status: int) -> None:
    stub.enqueue(status, count=5)
    [response] = make_judge(stub).judge([choice("q")])
    assert response.status == "error"
    assert response.error is not None and response.error.startswith(f"http_error: HTTP {status}")
    assert stub.stats()["chat_requests"] == 1


@pytest.mark.parametrize(
    ("fault", "message"),
    [("malformed", "not valid JSON"), ("empty_choices", "no choices")],
)
def test_bad_bodies_are_errors_not_retried(stub: StubServer, fault: str, message: str) -> None:
    stub.enqueue(fault, count=5)
    [response] = make_judge(stub).judge([choice("q")])
    assert response.status == "error"
    assert response.error is not None
    assert response.error.startswith("bad_response:") and message in response.error
    assert stub.stats()["chat_requests"] == 1


@pytest.mark.parametrize("fault", ["reset", "truncate"])
def test_dropped_connections_are_retried(stub: StubServer, fault: str) -> None:
    stub.enqueue(fault, count=2)
    [response] = make_judge(stub).judge([choice("[[stub:C]]")])
    assert response.status == "ok" and response.text == "C"
    assert stub.stats()["chat_requests"] == 3


def test_timeout_is_retried_then_reported(stub: StubServer) -> None:
    stub.enqueue("slow", count=5, delay_s=3.0)
    start = time.perf_counter()
    [response] = make_judge(stub, timeout_s=0.3, max_retries=1).judge([choice("q")])
    assert response.status == "error"
    assert response.error is not None and response.error.startswith("timeout:")
    assert stub.stats()["chat_requests"] == 2
    assert time.perf_counter() - start < 5.0  # two 0.3 s timeouts, not two 3 s waits


def test_one_bad_request_does_not_fail_the_batch(stub: StubServer) -> None:
    stub.enqueue(400)
    responses = make_judge(stub, concurrency=1).judge([choice(f"q{i}") for i in range(5)])
    assert [r.status for r in responses] == ["error", "ok", "ok", "ok", "ok"]


def test_seeded_fault_rate_all_recover(stub: StubServer) -> None:
    kinds = ["429", "500", "503", "reset", "truncate"]
    stub.configure(fault_rate=0.3, seed=7, fault_kinds=kinds)
    requests = [choice(f"question {i}") for i in range(40)]
    responses = make_judge(stub, max_retries=8, concurrency=8).judge(requests)
    assert all(r.status == "ok" for r in responses), [r.error for r in responses]
    stats = stub.stats()
    assert sum(stats["faults"].values()) > 0
    assert stats["chat_requests"] == 40 + sum(stats["faults"].values())


def test_stub_runs_as_a_process_with_cli_faults() -> None:
    with serve_in_process("--fault-rate", "0.25", "--seed", "3") as server:
        options = JudgeOptions(base_url=server.base_url, max_retries=8)
        judge = OpenAIJudge("stub-judge", options=options, backoff=FAST)
        responses = judge.judge([choice(f"p{i} [[stub:A]]") for i in range(20)])
        assert [r.text for r in responses] == ["A"] * 20
        stats = server.stats()
        assert stats["config"]["fault_rate"] == 0.25
        assert stats["chat_requests"] == 20 + sum(stats["faults"].values())


# ---------------------------------------------------------------------------------------------
# Construction: reachability and keys


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_server_fails_at_construction() -> None:
    base_url = f"http://127.0.0.1:{_closed_port()}/v1"
    start = time.perf_counter()
    with pytest.raises(JudgeUnavailable, match="Is the server running") as info:
        OpenAIJudge("m", options=JudgeOptions(base_url=base_url))
    assert f"cannot reach {base_url}" in str(info.value)
    assert time.perf_counter() - start < 5


def test_models_endpoint_errors_are_not_fatal(stub: StubServer) -> None:
    stub.configure(models_status=404)
    [response] = make_judge(stub).judge([choice("[[stub:A]]")])
    assert response.text == "A"
    assert stub.stats()["models_requests"] == 1


def test_malformed_base_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="must look like"):
        OpenAIJudge("m", options=JudgeOptions(base_url="127.0.0.1:8000/v1"))


def test_remote_server_without_key_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="set the OPENAI_API_KEY environment variable"):
        OpenAIJudge("gpt-4o-mini", options=JudgeOptions())
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        OpenAIJudge("m", options=JudgeOptions(base_url="https://api.example.com/v1"))


def test_api_key_is_sent_but_never_leaked(
    stub: StubServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("JUDGEKIT_TEST_KEY", SENTINEL)
    caplog.set_level(logging.DEBUG)
    judge = make_judge(stub, api_key_env="JUDGEKIT_TEST_KEY", max_retries=1)
    stub.enqueue(401)  # the stub echoes the key in its error message, as some proxies do
    stub.enqueue(429, count=2)  # retried once, then reported: logs and error both carry text
    responses = judge.judge([choice("q1"), generation("q2")])
    assert [r.status for r in responses] == ["error", "error"]
    assert stub.stats()["authorized"] == 3
    leaked = [json.dumps(r.__dict__) for r in responses] + [caplog.text, repr(vars(judge))]
    assert all(SENTINEL not in text for text in leaked)
    assert any("***" in (r.error or "") for r in responses)


# ---------------------------------------------------------------------------------------------
# The shared helpers, without a server


def test_choice_probs_helper() -> None:
    top = [(" A", math.log(0.3)), ("A", math.log(0.1)), ("B", math.log(0.2)), ("x", -1.0)]
    assert choice_probs(top, ["A", "B"]) == pytest.approx({"A": 2 / 3, "B": 1 / 3})
    assert choice_probs(top, ["C"]) is None
    assert choice_probs([], ["A"]) is None


def test_first_token_top_logprobs_reads_chat_and_legacy_shapes() -> None:
    chat = {"content": [{"token": "A", "logprob": -0.1, "top_logprobs": [
        {"token": "A", "logprob": -0.1}, {"token": "B", "logprob": -2.0}]}]}  # fmt: skip
    assert first_token_top_logprobs(chat) == [("A", -0.1), ("B", -2.0)]
    assert first_token_top_logprobs({"top_logprobs": [{"A": -0.1}]}) == [("A", -0.1)]
    assert first_token_top_logprobs(None) is None
    assert first_token_top_logprobs({"content": []}) is None


def test_parse_retry_after() -> None:
    assert parse_retry_after({"Retry-After": "2"}) == 2.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None


def test_classify_reads_the_cause_chain() -> None:
    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    limited = httpx.Response(429, headers={"Retry-After": "3"}, request=request)
    error = classify(openai.RateLimitError("slow down", response=limited, body=None))
    assert isinstance(error, RateLimited) and error.retry_after == 3.0
    # A wrapper that calls everything a 500 (as litellm does) must not hide a bad body.
    try:
        try:
            json.loads("{")
        except ValueError as inner:
            raise RuntimeError("500 internal") from inner
    except RuntimeError as outer:
        assert isinstance(classify(outer), PermanentError)
    dropped = openai.APIConnectionError(request=request)
    assert isinstance(classify(dropped), TransientError)


def test_scrub_masks_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_JUDGE_CREDENTIAL", SENTINEL)
    monkeypatch.setenv("OTHER_API_KEY", "sk-other-0123456789")
    text = f"bad key {SENTINEL} and sk-other-0123456789"
    assert scrub(text, key_env="MY_JUDGE_CREDENTIAL") == "bad key *** and ***"
