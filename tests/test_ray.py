"""Judging on a real local Ray cluster: a head and a worker node started by ``ray start`` on
this machine (``--runray``; ``make test-ray`` installs the extra first).

Each run on the cluster is checked against the same run in one process: the same judge-call,
verdict, outcome and rating rows, keyed by the same content hashes. Faults are real: a
replica's process is killed with SIGKILL mid-run, and a driver process is killed and re-run.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from conftest import InterruptingJudge, write_jsonl
from servers.openai_stub import StubServer, serve_in_thread

from judgekit.cli import cli
from judgekit.errors import JudgeUnavailable
from judgekit.judges.base import JudgeOptions
from judgekit.judges.fakes import HashJudge
from judgekit.protocols import fencing
from judgekit.runs.compare import compare
from judgekit.types import JudgeRequest, Message

pytestmark = pytest.mark.ray

ROOT = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).with_name("ray"))
# Token authentication guards real clusters; these nodes listen on this machine only.
CLUSTER_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
SMALL_STORE = "--object-store-memory=100000000"  # 2 nodes x 100 MB on a shared 2-core box
CLIENT: dict[str, int] = {}  # the head's Ray Client port, for ray:// addresses


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _nodes_alive(address: str, env: dict[str, str]) -> int:
    out = subprocess.run(
        [RAY, "status", f"--address={address}"], env=env, capture_output=True, text=True
    )
    active = out.stdout.split("Pending:")[0]
    return len(re.findall(r"\bnode_[0-9a-f]+", active)) if out.returncode == 0 else 0


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop one ``ray start --block`` and everything it spawned: its own process group
    (started with a new session), so no other Ray on this machine is touched."""
    pgid = process.pid
    for sig, grace_s in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        if not _group_alive(pgid):
            break
        os.killpg(pgid, sig)
        deadline = time.monotonic() + grace_s
        while _group_alive(pgid) and time.monotonic() < deadline:
            process.poll()  # reap the leader so that it does not linger as a zombie
            time.sleep(0.2)
    process.poll()


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """``ray start --head`` plus ``ray start --address`` on 127.0.0.1, one CPU each."""
    pytest.importorskip("ray")
    env = {**os.environ, **CLUSTER_ENV, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    saved = {k: os.environ.get(k) for k in CLUSTER_ENV}
    os.environ.update(CLUSTER_ENV)  # the driver (this process) joins with the same settings
    temp = tempfile.mkdtemp(prefix="jkray-", dir="/tmp")  # short: Ray's socket paths are long
    port = _free_port()
    CLIENT["port"] = _free_port()
    address = f"127.0.0.1:{port}"
    node = ["--node-ip-address=127.0.0.1", "--num-cpus=1", SMALL_STORE, "--disable-usage-stats"]
    started: list[subprocess.Popen[bytes]] = []
    logs = [open(Path(temp) / f"{n}.log", "wb") for n in ("head", "worker")]  # noqa: SIM115
    try:
        head = [RAY, "start", "--head", "--block", f"--port={port}", f"--temp-dir={temp}"]
        head += ["--include-dashboard=false", f"--ray-client-server-port={CLIENT['port']}", *node]
        started.append(
            subprocess.Popen(
                head, env=env, stdout=logs[0], stderr=subprocess.STDOUT, start_new_session=True
            )
        )
        deadline = time.monotonic() + 120
        while _nodes_alive(address, env) < 1:
            if time.monotonic() > deadline or started[0].poll() is not None:
                pytest.fail(f"the Ray head did not start; see {temp}/head.log")
            time.sleep(2)
        worker = [RAY, "start", "--block", f"--address={address}", *node]
        started.append(
            subprocess.Popen(
                worker, env=env, stdout=logs[1], stderr=subprocess.STDOUT, start_new_session=True
            )
        )
        while _nodes_alive(address, env) < 2:
            if time.monotonic() > deadline or started[1].poll() is not None:
                pytest.fail(f"the Ray worker node did not join; see {temp}/worker.log")
            time.sleep(2)
        yield address
    finally:
        for process in reversed(started):
            _stop(process)
        for log in logs:
            log.close()
        shutil.rmtree(temp, ignore_errors=True)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def ray_options(address: str, **kw: object) -> object:
    from judgekit.runs.ray_exec import RayOptions

    settings: dict[str, object] = {"address": address, "replicas": 2, "replica_cpus": 0.5}
    settings.update(kw)
    return RayOptions(**settings)  # type: ignore[arg-type]


def ray_judge(address: str, judge_id: str, **kw: object) -> object:
    from judgekit.runs.ray_exec import RayJudge

    options = kw.pop("options", None)
    return RayJudge(judge_id, options=options, ray_options=ray_options(address, **kw))  # type: ignore[arg-type]


def outputs(tmp_path: Path, *, models: str = "abcd", prompts: int = 6) -> list[Path]:
    files = []
    for m in models:
        rows = [
            {
                "prompt_id": f"p{i}",
                "prompt": f"Question {i}?",
                "model": m,
                "output": f"{m}:{i * 7 % 5}",
            }
            for i in range(prompts)
        ]
        files.append(write_jsonl(tmp_path / f"{m}.jsonl", rows))
    return files


_FENCE_TAG = re.compile(r" [0-9a-f]{16}>>>")


def rows(db: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row a compare run writes, without wall-clock columns."""
    queries = {
        "judge_calls": "SELECT request_hash, judge_id, messages, params, text, choice_probs, "
        "status, error, attempts FROM judge_calls ORDER BY request_hash",
        "verdicts": "SELECT * FROM verdicts ORDER BY ALL",
        "outcomes": "SELECT * FROM outcomes ORDER BY ALL",
        "ratings": "SELECT * FROM ratings ORDER BY ALL",
        "runs": "SELECT run_id, kind, config FROM runs ORDER BY run_id",
    }
    with duckdb.connect(str(db), read_only=True) as con:
        got = {name: con.execute(sql).fetchall() for name, sql in queries.items()}
    # Each call's fence tag is a fresh secret, so the stored prompts of two runs differ in
    # the tag alone; compare them with the tag blanked out.
    got["judge_calls"] = [
        (r[0], r[1], _FENCE_TAG.sub(" TAG>>>", r[2]), *r[3:]) for r in got["judge_calls"]
    ]
    return got


def local_rows(tmp_path: Path, files: list[Path], judge_id: str, **kw: object) -> dict[str, list]:
    db = tmp_path / "local.duckdb"
    compare(files, judge=judge_id, db=db, bootstrap=0, **kw)  # type: ignore[arg-type]
    return rows(db)


def test_cli_compare_on_ray_stores_the_rows_of_a_local_run(cluster: str, tmp_path: Path) -> None:
    files = outputs(tmp_path)
    db = tmp_path / "ray.duckdb"
    args = ["compare", *map(str, files), "--judge", "fake/hash", "--db", str(db)]
    args += ["--bootstrap", "0", "--no-progress", f"--ray={cluster}", "--replicas", "2"]
    args += ["--replica-cpus", "0.5"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "72 made, 0 cached" in result.output  # 6 pairs x 6 prompts x 2 orders
    assert rows(db) == local_rows(tmp_path, files, "fake/hash")


@pytest.mark.slow
def test_embedded_judge_on_ray_matches_the_local_run(
    cluster: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real model reads the fence tags too, so each run's own secret key moves its
    # probabilities by ~1e-2; both runs get one key to compare the executors alone.
    monkeypatch.setenv(fencing.FENCE_KEY_ENV, "ray-tests")
    files = outputs(tmp_path, models="ab", prompts=2)
    want = local_rows(tmp_path, files, "hf/smollm2")
    with ray_judge(cluster, "hf/smollm2", replica_cpus=1) as judge:  # type: ignore[attr-defined]
        compare(files, judge=judge, db=tmp_path / "ray.duckdb", bootstrap=0)
    got = rows(tmp_path / "ray.duckdb")
    for table in ("judge_calls", "verdicts", "outcomes", "ratings", "runs"):
        assert len(got[table]) == len(want[table]), table
    # The same requests, hashes, texts and statuses; probabilities and ratings agree to float
    # noise, not bit for bit: a replica has one torch thread (Ray sets it from its CPUs) and
    # its own batches, so its sums run in another order than in the local process.
    for g, w in zip(got["judge_calls"], want["judge_calls"], strict=True):
        assert g[:5] == w[:5] and g[6:] == w[6:]
        assert _close(g[5], w[5])
    for table in ("verdicts", "outcomes", "ratings"):
        for g, w in zip(got[table], want[table], strict=True):
            assert all(_close(x, y) for x, y in zip(g, w, strict=True)), (table, g, w)
    assert got["runs"] == want["runs"]


def _close(x: object, y: object) -> bool:
    if isinstance(x, float) and isinstance(y, float):
        # Ratings sit on the Elo scale (~1000), where noise of 1e-7 in a probability shows.
        return math.isclose(x, y, rel_tol=1e-5, abs_tol=1e-4)
    if isinstance(x, str) and isinstance(y, str) and x.startswith("{"):
        import json

        a, b = json.loads(x), json.loads(y)
        return a.keys() == b.keys() and all(abs(a[k] - b[k]) <= 1e-4 for k in a)
    return x == y


def test_a_replica_killed_mid_run_loses_and_duplicates_nothing(
    cluster: str, tmp_path: Path
) -> None:
    files = outputs(tmp_path)  # 72 requests at 40 ms: 0.7 s per batch of 18
    judge = ray_judge(cluster, "fake/slow-hash-40ms")
    killed: list[int] = []

    def kill_one_replica_mid_batch() -> None:
        deadline = time.monotonic() + 120
        while judge.stats.batches < 1 and time.monotonic() < deadline:  # type: ignore[attr-defined]
            time.sleep(0.05)
        pid = judge.stats.replica_pids[0]  # type: ignore[attr-defined]
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    with judge:  # type: ignore[attr-defined]
        killer = threading.Thread(target=kill_one_replica_mid_batch)
        killer.start()
        result = compare(files, judge=judge, db=tmp_path / "ray.duckdb", bootstrap=0)  # type: ignore[arg-type]
        killer.join()
        import ray

        restarted = ray.get(judge._actors[0].info.remote())["pid"]  # type: ignore[attr-defined]
    assert killed and restarted != killed[0]  # Ray restarted the replica in a new process
    assert result.stats["judge_calls_made"] == 72 and result.stats["judge_calls_failed"] == 0
    got = rows(tmp_path / "ray.duckdb")
    assert {r[-1] for r in got["judge_calls"]} == {1}  # every call stored exactly once
    assert got == local_rows(tmp_path, files, "fake/slow-hash-40ms")


def test_a_run_stopped_locally_finishes_on_ray_and_back(cluster: str, tmp_path: Path) -> None:
    files = outputs(tmp_path)
    want = local_rows(tmp_path, files, "fake/hash")
    db = tmp_path / "mixed.duckdb"
    hashed = HashJudge(record=False)
    stopper = InterruptingJudge(lambda r: hashed.judge([r])[0], stop_at=30, judge_id="fake/hash")
    with pytest.raises(KeyboardInterrupt):
        compare(files, judge=stopper, db=db, bootstrap=0)
    with ray_judge(cluster, "fake/hash") as judge:  # type: ignore[attr-defined]
        finished = compare(files, judge=judge, db=db, bootstrap=0)
        # The other way round: a run begun on Ray (two models) is finished locally (four).
        compare(files[:2], judge=judge, db=tmp_path / "ray-first.duckdb", bootstrap=0)
    stats = finished.stats
    assert stats["judge_calls_cached"] > 0 and stats["judge_calls_made"] < 72
    assert stats["judge_calls_cached"] + stats["judge_calls_made"] == 72
    assert rows(db)["judge_calls"] == want["judge_calls"]
    assert rows(db)["ratings"] == want["ratings"]
    back = compare(files, judge="fake/hash", db=tmp_path / "ray-first.duckdb", bootstrap=0)
    assert (back.stats["judge_calls_cached"], back.stats["judge_calls_made"]) == (12, 60)
    assert rows(tmp_path / "ray-first.duckdb")["judge_calls"] == want["judge_calls"]


def test_a_killed_driver_is_resumed_by_a_rerun(cluster: str, tmp_path: Path) -> None:
    files = outputs(tmp_path)
    db = tmp_path / "ray.duckdb"
    args = [sys.executable, "-m", "judgekit", "compare", *map(str, files), "--db", str(db)]
    args += ["--judge", "fake/slow-hash-250ms", "--bootstrap", "0", "--no-progress"]
    args += [f"--ray={cluster}", "--replicas", "2", "--replica-cpus", "0.5"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    driver = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    # A replica takes 18 requests x 250 ms = 4.5 s per batch and each replica holds two:
    # 6 s after the first batch starts, the first two are stored and the last two are not.
    deadline = time.monotonic() + 180
    while not _replica_busy() and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(6.0)
    assert driver.poll() is None, driver.stdout.read().decode() if driver.stdout else ""
    driver.kill()
    driver.wait()
    with duckdb.connect(str(db)) as con:  # replays the WAL of the killed writer
        done = con.execute("SELECT count(*) FROM judge_calls").fetchone()[0]
    assert 0 < done < 72
    rerun = subprocess.run([*args, "--json"], env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert f'"judge_calls_cached": {done}' in rerun.stdout
    assert f'"judge_calls_made": {72 - done}' in rerun.stdout
    assert rows(db) == local_rows(tmp_path, files, "fake/slow-hash-250ms")


def _replica_busy() -> bool:
    """Whether a judge replica is inside a batch: Ray titles a worker by its running method."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if b"ray::_Replica.judge_batch" in cmdline.read_bytes():
                return True
        except OSError:
            continue
    return False


def test_a_replica_that_cannot_load_names_its_node(cluster: str, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    where = r"node [\d.]+ \(\S+, id [0-9a-f]{12}\), pid \d+"
    cause = r"ConfigError: hf judge: model path .*no-such-model' does not exist"
    with pytest.raises(
        JudgeUnavailable, match=rf"the replica on {where} could not load the judge: {cause}"
    ):
        ray_judge(cluster, "hf/smollm2", options=JudgeOptions(model_path=str(missing)))


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with serve_in_thread() as server:
        yield server


def test_api_judge_tasks_share_one_concurrency_limit(cluster: str, stub: StubServer) -> None:
    stub.configure(latency_s=0.2)
    options = JudgeOptions(base_url=stub.base_url, concurrency=2, max_retries=2, timeout_s=10)
    reqs = [
        JudgeRequest(
            messages=(Message("user", f"q{i} [[stub:{'ABC'[i % 3]}]]"),), choices=("A", "B", "C")
        )
        for i in range(24)
    ]
    # Six tasks in flight (3 replicas x 2), each running its batch at concurrency 2: without
    # the shared limiter up to twelve requests would reach the server at once.
    with ray_judge(
        cluster, "openai/stub-judge", options=options, replicas=3, replica_cpus=0.25
    ) as judge:  # type: ignore[attr-defined]
        responses = judge.judge(reqs)
        peak = judge.peak_in_flight()
    assert [r.text[0] for r in responses] == ["ABC"[i % 3] for i in range(24)]
    assert stub.stats()["chat_requests"] == 24
    assert stub.stats()["max_in_flight"] == 2 == peak


def test_a_ray_client_address_judges_like_a_local_run(cluster: str) -> None:
    reqs = [
        JudgeRequest(messages=(Message("user", f"q{i}"),), choices=("A", "B")) for i in range(40)
    ]
    with ray_judge(f"ray://127.0.0.1:{CLIENT['port']}", "fake/hash") as judge:  # type: ignore[attr-defined]
        got = judge.judge(reqs)
        assert judge.stats.batches == 4  # 40 requests over 2 replicas x 2 batches in flight
    assert got == HashJudge().judge(reqs)
