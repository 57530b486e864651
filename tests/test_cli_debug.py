"""An unexpected error is one line without --debug, and a full traceback with it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner

from judgekit.cli import cli
from judgekit.judges import registry
from judgekit.judges.base import Judge, JudgeOptions
from judgekit.types import JudgeRequest, JudgeResponse

CORPUS = Path(__file__).parent / "fixtures" / "bad_inputs" / "outputs"


class BrokenJudge:
    """A judge with a bug: it raises instead of returning error responses."""

    id = "broken/x"
    supports_logprobs = True
    batch_size = 4

    def judge(self, requests: Sequence[JudgeRequest]) -> list[JudgeResponse]:
        raise ValueError("unexpected shape (3, 2)")


@pytest.fixture
def broken_provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def load(model: str, options: JudgeOptions) -> Judge:
        return BrokenJudge()

    monkeypatch.setitem(registry._PROVIDERS, "broken", load)
    yield


def _argv(tmp_path: Path) -> list[str]:
    return [
        "compare", str(CORPUS / "good_a.jsonl"), str(CORPUS / "good_b.jsonl"),
        "--judge", "broken/x", "--db", str(tmp_path / "j.duckdb"), "--no-progress",
    ]  # fmt: skip


def test_an_unexpected_error_is_one_line_without_debug(
    broken_provider: None, tmp_path: Path
) -> None:
    result = CliRunner().invoke(cli, _argv(tmp_path))
    assert result.exit_code == 1
    assert not isinstance(result.exception, ValueError)  # handled, not raised
    assert "Traceback" not in result.output
    assert "unexpected ValueError: unexpected shape (3, 2)" in result.output
    assert "--debug" in result.output


def test_debug_shows_the_traceback(broken_provider: None, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--debug", *_argv(tmp_path)])
    assert isinstance(result.exception, ValueError)  # raised as is: Python prints it
    assert result.exc_info is not None and result.exc_info[2] is not None


def test_debug_also_shows_a_library_errors_traceback(tmp_path: Path) -> None:
    argv = ["compare", str(CORPUS / "truncated.jsonl"), str(CORPUS / "good_b.jsonl"),
            "--judge", "fake/hash", "--db", str(tmp_path / "j.duckdb")]  # fmt: skip
    plain = CliRunner().invoke(cli, argv)
    assert plain.exit_code == 1 and "truncated.jsonl:3" in plain.output
    debug = CliRunner().invoke(cli, ["--debug", *argv])
    assert debug.exception is not None and "truncated.jsonl:3" in str(debug.exception)
