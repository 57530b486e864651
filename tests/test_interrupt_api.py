"""Ctrl-C or SIGTERM during an API judge's batch: the replies already answered are stored
(they were paid for), the run is marked interrupted, and the CLI exits 130.

A real CLI process, a real signal, and a slow OpenAI-compatible stub on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from servers.openai_stub import StubServer, serve_in_thread

from judgekit.cli import cli

REPO = Path(__file__).resolve().parents[1]
PROMPTS = 40  # two models: 40 pairs, 80 requests; batches of 16 at --concurrency 4
LATENCY_S = 0.25


@pytest.fixture(scope="module")
def stub() -> Iterator[StubServer]:
    with serve_in_thread() as server:
        yield server


def _outputs(tmp_path: Path) -> list[str]:
    paths = []
    for model in ("m1", "m2"):
        path = tmp_path / f"{model}.jsonl"
        rows = [
            {"prompt_id": f"p{i}", "prompt": f"Question {i}?", "model": model,
             "output": f"{model} answers question {i}."}
            for i in range(PROMPTS)
        ]  # fmt: skip
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        paths.append(str(path))
    return paths


def _answered(stub: StubServer) -> int:
    return int(sum(stub.stats()["responses"].values()))


def _argv(files: list[str], stub: StubServer, db: Path) -> list[str]:
    return [
        "compare", *files, "--judge", "openai/stub-judge", "--base-url", stub.base_url,
        "--db", str(db), "--concurrency", "4", "--no-progress", "--bootstrap", "0",
    ]  # fmt: skip


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_batch_keeps_the_answered_calls(
    stub: StubServer, tmp_path: Path, sig: signal.Signals
) -> None:
    stub.reset()
    stub.configure(latency_s=LATENCY_S)
    files = _outputs(tmp_path)
    db = tmp_path / "j.duckdb"
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "judgekit", *_argv(files, stub, db)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        # Half-way through the first batch of 16: some replies in, the rest in flight.
        while _answered(stub) < 6:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run never got going"
            time.sleep(0.02)
        at_signal = _answered(stub)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Interrupted" in err and "Traceback" not in err
    with duckdb.connect(str(db), read_only=True) as con:
        stored = con.execute("SELECT count(*) FROM judge_calls WHERE status = 'ok'").fetchone()
        status = con.execute("SELECT status FROM runs").fetchall()
    assert stored is not None
    # Everything answered before the signal is kept, bar a wave whose replies were still on
    # the wire; nothing past the first batch was sent.
    assert at_signal - 4 <= stored[0] <= 16
    assert stored[0] >= 4
    assert status == [("interrupted",)]

    stub.reset()  # no latency: finish the run
    resumed = CliRunner().invoke(cli, [*_argv(files, stub, db), "--json"])
    assert resumed.exit_code == 0, resumed.output
    stats = json.loads(resumed.output)["stats"]
    assert stats["judge_calls_cached"] == stored[0]
    assert stats["judge_calls_made"] == 2 * PROMPTS - stored[0]
    assert stub.stats()["chat_requests"] == 2 * PROMPTS - stored[0]
