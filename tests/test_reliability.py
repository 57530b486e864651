"""Reliability: faults from a real flaky server, SIGKILL and resume, Ctrl-C, secrets, and
concurrent access to one store."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
from servers.openai_stub import serve_in_process

import judgekit
from judgekit.inputs.outputs import load_outputs
from judgekit.judges.base import JudgeOptions
from judgekit.plan import parse_schedule, plan_comparisons
from judgekit.protocols.pairwise import PairwiseSpec, plan_requests
from judgekit.store.db import open_store
from tests.conftest import write_jsonl

SLOW_RUN = Path(__file__).parent / "reliability" / "slow_run.py"
REPO = Path(__file__).resolve().parents[1]


def make_arena(folder: Path, *, prompts: int, models: int) -> list[Path]:
    files = []
    for m in range(models):
        rows = [
            {
                "prompt_id": f"p{p:03d}",
                "prompt": f"Question number {p}: explain topic {p}.",
                "model": f"model-{m}",
                "output": f"Answer {p} from model {m}. " * (1 + (m * 7 + p) % 5),
            }
            for p in range(prompts)
        ]
        files.append(write_jsonl(folder / f"model-{m}.jsonl", rows))
    return files


def planned_hashes(files: list[Path], judge_id: str, *, mode: str = "logprobs") -> set[str]:
    data = load_outputs(files)
    by_prompt = data.by_prompt()
    comps = plan_comparisons(
        {k: list(v) for k, v in by_prompt.items()}, schedule=parse_schedule("all-pairs")
    )
    spec = PairwiseSpec(mode=mode)  # type: ignore[arg-type]
    calls = plan_requests(comps, items=data.items, candidates=by_prompt, spec=spec)
    return {c.request.hash_for(judge_id) for c in calls}


def stored_calls(db: Path) -> list[tuple[str, str, str | None]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT request_hash, status, error FROM judge_calls").fetchall()
    finally:
        con.close()


def test_flaky_server_run_completes_without_loss_or_duplicates(tmp_path: Path) -> None:
    files = make_arena(tmp_path, prompts=20, models=5)  # 200 comparisons, 400 calls
    db = tmp_path / "j.duckdb"
    kinds = "429,500,503,reset,truncate,slow,malformed,empty_choices"
    with serve_in_process(
        "--fault-rate", "0.2", "--seed", "7", "--fault-kinds", kinds, "--slow", "5"
    ) as server:
        options = JudgeOptions(
            base_url=server.base_url, concurrency=16, max_retries=3, timeout_s=1.5
        )
        first = judgekit.compare(
            files, judge="openai/stub", db=db, judge_options=options, bootstrap=0
        )
        stats = server.stats()
        planned = planned_hashes(files, "openai/stub")
        calls = stored_calls(db)
        hashes = [h for h, _, _ in calls]
        assert len(planned) == 400 and len(hashes) == len(set(hashes)) == 400
        assert set(hashes) == planned  # 0 lost, 0 duplicated, nothing unplanned
        failed = {h: err for h, status, err in calls if status != "ok"}
        assert failed, "the fault mix includes permanent failures (malformed bodies)"
        assert all(
            err
            and err.split(":")[0]
            in {"bad_response", "timeout", "server_error", "rate_limited", "connection_error"}
            for err in failed.values()
        )
        assert first.stats["judge_calls_failed"] == len(failed)
        # Retries are bounded: at most max_retries + 1 attempts per planned call.
        assert 400 < stats["chat_requests"] <= 400 * 4
        assert sum(stats["faults"].values()) > 40

        server.configure(fault_rate=0.0)
        server.reset()
        server.configure(fault_rate=0.0)
        second = judgekit.compare(
            files, judge="openai/stub", db=db, judge_options=options, bootstrap=0
        )
        assert server.stats()["chat_requests"] == len(failed)  # only the failed ones again
        assert second.stats["judge_calls_made"] == len(failed)
        assert {status for _, status, _ in stored_calls(db)} == {"ok"}


def _integrity_check(db: Path) -> set[str]:
    """Open the store (replaying its WAL), check keys are unique; return stored ok hashes."""
    with open_store(db) as store, store.connect() as con:
        for table, key in {
            "judge_calls": "request_hash",
            "outcomes": "run_id, prompt_id, model_a, model_b",
            "verdicts": "run_id, prompt_id, model_a, model_b, position_order",
        }.items():
            total = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            distinct = con.execute(f"SELECT count(*) FROM (SELECT DISTINCT {key} FROM {table})")
            assert total == distinct.fetchone()[0], table
        for (probs,) in con.execute("SELECT choice_probs FROM judge_calls").fetchall():
            assert abs(sum(json.loads(probs).values()) - 1) < 1e-9
        rows = con.execute("SELECT request_hash FROM judge_calls WHERE status = 'ok'")
        return {h for (h,) in rows.fetchall()}


def _slow_run(
    log: Path, db: Path, files: list[Path], *extra: str, delay_s: float = 0.004
) -> subprocess.Popen[str]:
    args = [
        sys.executable,
        str(SLOW_RUN),
        str(log),
        str(delay_s),
        "--",
        "compare",
        *map(str, files),
        "--judge",
        "slowlog/x",
        "--db",
        str(db),
        "--bootstrap",
        "100",
        "--json",
        *extra,
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def _wait_until_judging(log: Path, proc: subprocess.Popen[str], timeout_s: float = 60) -> None:
    """Wait until the judge answered its first batch, so signals land mid-run."""
    deadline = time.monotonic() + timeout_s
    while not (log.exists() and log.stat().st_size) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)


def test_sigkill_at_random_points_then_resume_matches_uninterrupted(tmp_path: Path) -> None:
    files = make_arena(tmp_path, prompts=30, models=5)  # 300 comparisons, 600 calls
    db = tmp_path / "j.duckdb"
    rng = random.Random(1)
    stored: set[str] = set()
    for kill in range(3):
        log = tmp_path / f"log{kill}.txt"
        proc = _slow_run(log, db, files)
        _wait_until_judging(log, proc)
        time.sleep(rng.uniform(0.0, 1.5))  # the whole run takes about 2.5 s
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        sent = set(log.read_text().split()) if log.exists() else set()
        assert not sent & stored, "a killed run re-sent requests that were already stored"
        stored = _integrity_check(db)
    final_log = tmp_path / "final.txt"
    proc = _slow_run(final_log, db, files)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    resent = set(final_log.read_text().split()) if final_log.exists() else set()
    assert not resent & stored
    assert len(_integrity_check(db)) == 600
    resumed = json.loads(out)
    fresh = judgekit.compare(files, judge="fake/hash", db=tmp_path / "fresh.duckdb", bootstrap=100)
    assert resumed["leaderboard"] == json.loads(fresh.leaderboard.to_json(orient="records"))


def test_ctrl_c_stops_cleanly_says_how_to_resume_and_exits_130(tmp_path: Path) -> None:
    files = make_arena(tmp_path, prompts=30, models=5)
    db = tmp_path / "j.duckdb"
    proc = _slow_run(tmp_path / "log.txt", db, files)
    _wait_until_judging(tmp_path / "log.txt", proc)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "run the same command again to resume" in err
    assert "Traceback" not in err
    stored = _integrity_check(db)
    assert 0 < len(stored) < 600
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT status FROM runs").fetchall() == [("interrupted",)]
    con.close()


def test_second_writer_is_refused_and_readers_are_never_broken(tmp_path: Path) -> None:
    files = make_arena(tmp_path, prompts=30, models=5)
    db = tmp_path / "j.duckdb"
    judgekit.compare(files[:2], judge="fake/hash", db=db, bootstrap=0)  # a finished run
    proc = _slow_run(tmp_path / "log.txt", db, files, delay_s=0.03)  # about 18 s
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    _wait_until_judging(tmp_path / "log.txt", proc)
    second = subprocess.run(
        [
            sys.executable,
            "-m",
            "judgekit",
            "compare",
            *map(str, files),
            "--judge",
            "fake/hash",
            "--db",
            str(db),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert second.returncode == 1
    assert "another judgekit run is writing to this store" in second.stderr
    readers = []
    while proc.poll() is None and len(readers) < 5:
        readers.append(
            subprocess.run(
                [sys.executable, "-m", "judgekit", "leaderboard", "--db", str(db), "--json"],
                capture_output=True,
                text=True,
                env=env,
            )
        )
    proc.communicate(timeout=120)
    assert readers
    for reader in readers:
        if reader.returncode == 0:
            assert {r["model"] for r in json.loads(reader.stdout)["leaderboard"]}
        else:
            assert "busy" in reader.stderr and "Traceback" not in reader.stderr


def test_api_key_never_reaches_store_logs_or_json(tmp_path: Path) -> None:
    sentinel = "sk-judgekit-SENTINEL-4242"
    files = make_arena(tmp_path, prompts=3, models=3)
    db = tmp_path / "j.duckdb"
    with serve_in_process() as server:
        server.enqueue("401", count=2)  # the stub echoes the key back in its 401 body
        env = {**os.environ, "PYTHONPATH": str(REPO), "JUDGE_KEY": sentinel}
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "judgekit",
                "-v",
                "compare",
                *map(str, files),
                "--judge",
                "openai/stub",
                "--base-url",
                server.base_url,
                "--api-key-env",
                "JUDGE_KEY",
                "--db",
                str(db),
                "--json",
            ],
            capture_output=True,
            text=True,
            env=env,
        )
        assert result.returncode == 0, result.stderr
        assert server.stats()["authorized"] > 0  # the key was really used
    assert sentinel not in result.stdout and sentinel not in result.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert sentinel.encode() not in path.read_bytes(), path
    errors = [e for _, s, e in stored_calls(db) if s != "ok"]
    assert len(errors) == 2 and all("***" in e or "401" in e for e in errors)
