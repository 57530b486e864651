"""API judges from the command line: --timeout, --max-retries, failing fast offline, and the
provider's own key for litellm. Against the OpenAI-compatible stub on 127.0.0.1."""

from __future__ import annotations

import importlib.util
import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from servers.openai_stub import StubServer, serve_in_thread

from judgekit.cli import cli
from judgekit.commands.common import build_judge_options
from judgekit.errors import ConfigError, JudgeUnavailable
from judgekit.judges import get_judge
from judgekit.judges.api_common import Backoff
from judgekit.judges.base import JudgeOptions
from judgekit.judges.openai import OpenAIJudge

HAS_LITELLM = importlib.util.find_spec("litellm") is not None
needs_litellm = pytest.mark.skipif(not HAS_LITELLM, reason="litellm is not installed")


@pytest.fixture(scope="module")
def stub() -> Iterator[StubServer]:
    with serve_in_thread() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_stub(stub: StubServer) -> None:
    stub.reset()


def _outputs(tmp_path: Path) -> list[str]:
    paths = []
    for model, answer in (("m1", "Paris."), ("m2", "Lyon.")):
        path = tmp_path / f"{model}.jsonl"
        row = {"prompt_id": "p1", "prompt": "Capital of France?", "model": model, "output": answer}
        path.write_text(json.dumps(row) + "\n", encoding="utf-8")
        paths.append(str(path))
    return paths


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- --timeout and --max-retries --------------------------------------------------------------


def test_timeout_and_max_retries_reach_the_api_judge(stub: StubServer, tmp_path: Path) -> None:
    stub.configure(fault_rate=1.0, fault_kinds=["slow"], slow_s=3.0)
    argv = [
        "compare", *_outputs(tmp_path), "--judge", "openai/stub-judge",
        "--base-url", stub.base_url, "--timeout", "0.4", "--max-retries", "1",
        "--db", str(tmp_path / "j.duckdb"), "--no-progress", "--bootstrap", "0",
    ]  # fmt: skip
    started = time.monotonic()
    result = CliRunner().invoke(cli, argv)
    elapsed = time.monotonic() - started
    assert result.exit_code != 0
    # Two requests (one pair, both orders), each tried twice: 1 + --max-retries.
    assert stub.stats()["chat_requests"] == 4
    # Each attempt gave up after --timeout, not after the default 60 s.
    assert elapsed < 8, elapsed
    assert "timeout" in result.output.lower()


def test_the_retry_schedule_in_help_is_the_one_used() -> None:
    result = CliRunner().invoke(cli, ["compare", "--help"], terminal_width=200)
    text = " ".join(result.output.split())
    backoff = Backoff()
    assert "--timeout SECONDS" in text and "--max-retries N" in text
    found = re.search(r"random 0 to min\((\d+), ([\d.]+) x 2\^\(k-1\)\)", text)
    assert found, text
    assert float(found.group(1)) == backoff.max_s
    assert float(found.group(2)) == backoff.initial_s
    assert f"Retry-After up to {backoff.retry_after_cap_s:.0f} s" in text
    assert "[default: 5]" in text and JudgeOptions().max_retries == 5
    assert "[default: 60]" in text and JudgeOptions().timeout_s == 60


def test_cli_options_build_judge_options() -> None:
    options = build_judge_options(
        base_url=None, api_key_env=None, concurrency=2, batch_size=None, timeout_s=7.5,
        max_retries=0,
    )  # fmt: skip
    assert options.timeout_s == 7.5 and options.max_retries == 0
    # Not given on the command line: left unset, so litellm can read the provider's key.
    assert "api_key_env" not in options.model_fields_set
    bad = CliRunner().invoke(cli, ["compare", "x.jsonl", "--timeout", "0"])
    assert bad.exit_code == 2 and "--timeout" in bad.output


# -- offline without --base-url ---------------------------------------------------------------


@pytest.mark.parametrize("where", ["refused", "unresolvable"])
def test_openai_without_base_url_fails_fast_when_offline(
    monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    # The OpenAI client's own override of its default URL stands in for the unreachable API:
    # a closed local port (refused) or a host name that cannot resolve, as offline.
    url = (
        f"http://127.0.0.1:{_closed_port()}/v1"
        if where == "refused"
        else "http://api.judgekit-offline.invalid/v1"
    )
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-used")
    started = time.monotonic()
    with pytest.raises(JudgeUnavailable) as caught:
        OpenAIJudge("gpt-4o-mini", options=JudgeOptions(timeout_s=1.0))
    assert time.monotonic() - started < 3  # within the connect timeout, not minutes
    message = str(caught.value)
    assert url in message and "--base-url" in message


def test_the_cli_names_the_url_and_suggests_base_url(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-used")
    db = tmp_path / "j.duckdb"
    argv = ["compare", *_outputs(tmp_path), "--judge", "openai/gpt-4o-mini", "--db", str(db)]
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert url in result.output and "--base-url" in result.output
    assert not db.exists()


# -- litellm reads the provider's own key ------------------------------------------------------


def _cli_options(**given: object) -> JudgeOptions:
    """JudgeOptions as the CLI builds them when the user gives no key option."""
    settings: dict[str, object] = {
        "base_url": None, "api_key_env": None, "concurrency": 8, "batch_size": None,
    }  # fmt: skip
    settings.update(given)
    return build_judge_options(**settings)  # type: ignore[arg-type]


@needs_litellm
def test_litellm_anthropic_wants_the_anthropic_key_not_openais(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-not-wanted")
    judge_id = "litellm/anthropic/claude-3-5-haiku-latest"
    argv = ["compare", *_outputs(tmp_path), "--judge", judge_id, "--db", str(tmp_path / "j.db")]
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 1
    assert "ANTHROPIC_API_KEY" in result.output and "OPENAI_API_KEY" not in result.output

    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-not-sent")
    judge = get_judge(judge_id, options=_cli_options())
    assert judge.id == judge_id


@needs_litellm
@pytest.mark.parametrize("model", ["ollama/llama3", "ollama_chat/llama3", "hosted_vllm/m"])
def test_local_litellm_providers_need_no_key(monkeypatch: pytest.MonkeyPatch, model: str) -> None:
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    judge = get_judge(f"litellm/{model}", options=_cli_options())
    assert judge.id == f"litellm/{model}"


@needs_litellm
def test_litellm_against_a_local_server_runs_without_any_key(
    stub: StubServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "HOSTED_VLLM_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    argv = [
        "compare", *_outputs(tmp_path), "--judge", "litellm/hosted_vllm/stub-judge",
        "--base-url", stub.base_url, "--db", str(tmp_path / "j.duckdb"), "--json",
        "--bootstrap", "0",
    ]  # fmt: skip
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)["stats"]
    assert stats["judge_calls_made"] == 2 and stats["judge_calls_failed"] == 0
    assert stub.stats()["chat_requests"] == 2


@needs_litellm
def test_an_explicit_key_variable_is_still_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JUDGEKIT_UNSET_KEY", raising=False)
    with pytest.raises(ConfigError, match="JUDGEKIT_UNSET_KEY"):
        get_judge(
            "litellm/anthropic/claude-3-5-haiku-latest",
            options=_cli_options(api_key_env="JUDGEKIT_UNSET_KEY"),
        )
