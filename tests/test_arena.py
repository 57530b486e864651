"""The K-wise arena: config files, matchmaking, rounds, resume after an interruption, CLI."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import click
import duckdb
import numpy as np
import pytest
from click.testing import CliRunner

from judgekit.cli import JudgekitGroup
from judgekit.commands.arena import arena as arena_group
from judgekit.errors import ConfigError
from judgekit.judges.fakes import ScriptedJudge
from judgekit.plan.arena import ArenaState, choose_match, load_arena, round_rng
from judgekit.rank import RankingData, openskill_ratings
from judgekit.runs.arena import run_arena
from judgekit.types import JudgeRequest, JudgeResponse, unsealed_text
from tests.conftest import InterruptingJudge, write_jsonl

QUALITY = {"ace": 10.0, "bee": 7.5, "cat": 5.0, "dog": 2.5, "eel": 0.0}
PROMPTS = {f"q{i}": f"Question number {i}?" for i in range(4)}
_BLOCK = re.compile(r"\[(\d+)\]\n<<<BEGIN RESPONSE \d+ \w+>>>\nANSWER-(\w+)")


def noisy_oracle(request: JudgeRequest) -> JudgeResponse:
    """Ranks by quality plus noise that is a function of the request alone (deterministic,
    like a judge at temperature 0), and answers with first-choice probabilities."""
    slots = _BLOCK.findall(request.messages[0].content)
    # Seeded without the fence tags, which are new on every call.
    content = unsealed_text(request.messages[0].content)
    seed = int(hashlib.sha256(content.encode()).hexdigest()[:8], 16)
    noise = np.random.default_rng(seed).gumbel(size=len(slots))
    utility = {label: QUALITY[model] + e for (label, model), e in zip(slots, noise, strict=True)}
    weights = {label: float(np.exp(u)) for label, u in utility.items()}
    total = sum(weights.values())
    best = max(weights, key=weights.__getitem__)
    return JudgeResponse(text=best, choice_probs={c: w / total for c, w in weights.items()})


def interrupting(stop_at: int) -> InterruptingJudge:
    """The oracle judge, but Ctrl-C arrives during its ``stop_at``-th call."""
    return InterruptingJudge(noisy_oracle, stop_at=stop_at, judge_id="fake/oracle", batch_size=8)


def oracle_judge() -> ScriptedJudge:
    return ScriptedJudge(noisy_oracle, supports_logprobs=True, judge_id="fake/oracle")


def write_arena(tmp_path: Path, **overrides: object) -> Path:
    outputs = tmp_path / "outputs"
    outputs.mkdir(exist_ok=True)
    for model in QUALITY:
        rows = [
            {"prompt_id": pid, "prompt": text, "model": model, "output": f"ANSWER-{model} ..."}
            for pid, text in PROMPTS.items()
        ]
        write_jsonl(outputs / f"{model}.jsonl", rows)
    write_jsonl(tmp_path / "prompts.jsonl", [{"prompt_id": p} for p in list(PROMPTS)[:3]])
    config = {
        "name": "toy",
        "candidates": ["outputs/*.jsonl"],
        "prompts": "prompts.jsonl",
        "judge": "fake/hash",
        "k": 3,
        "budget": 8,
        "seed": 7,
        "sigma_threshold": 0.5,
        "bootstrap": 0,
        **overrides,
    }
    path = tmp_path / "toy.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
    return path


def test_arena_file_errors_name_the_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("candidates: [a.jsonl]\nk: 1\nbudgett: 5\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_arena(path)
    message = str(err.value)
    assert f"{path}:2: k: Input should be greater than or equal to 2" in message
    assert f"{path}:3: budgett: Extra inputs are not permitted" in message
    path.write_text("candidates: [a.jsonl\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad.yaml:\d+: not valid YAML"):
        load_arena(path)
    with pytest.raises(ConfigError, match="arena file not found"):
        load_arena(tmp_path / "missing.yaml")
    config = load_arena(write_arena(tmp_path, candidates=["nothing/*.jsonl"]))
    with pytest.raises(ConfigError, match=r"toy.yaml:1: candidates: no file matches"):
        config.candidate_files()


def test_the_demo_arena_file_is_valid() -> None:
    config = load_arena(Path(__file__).parent.parent / "arenas" / "demo.yaml")
    assert config.k == 4 and config.judge == "hf/smollm2"
    assert len(config.candidate_files()) == 4 and config.prompt_file().is_file()  # type: ignore[union-attr]


def test_matchmaking_prefers_uncertain_pivots_and_close_means() -> None:
    mu = np.array([30.0, 25.0, 24.0, 10.0, 26.0])
    sigma = np.array([2.0, 6.0, 2.0, 2.0, 2.0])
    match = choose_match(mu, sigma, eligible=range(5), k=3, rng=round_rng(0, 0))
    assert match[0] == 1  # the most uncertain model is the pivot
    assert set(match[1:]) == {2, 4}  # its closest neighbours, not the far-off 0 and 3
    assert match == choose_match(mu, sigma, eligible=range(5), k=3, rng=round_rng(0, 0))


def test_arena_runs_rounds_and_stores_them(tmp_path: Path) -> None:
    db = tmp_path / "arena.duckdb"
    result = run_arena(write_arena(tmp_path, bootstrap=20), db=db, judge=oracle_judge())
    assert result.stats["rounds"] == 8 and result.stats["stop"] == "budget"
    rounds = result.rounds
    assert list(rounds["round_index"]) == list(range(8))
    assert set(rounds["prompt_id"]) == {"q0", "q1", "q2"}  # only the prompt set's prompts
    for models, shown in zip(rounds["models"], rounds["shown"], strict=True):
        assert len(models) == 3 and set(models) == set(shown)
    # The arena's online state is exactly openskill replayed over its stored rankings.
    replay = openskill_ratings(
        RankingData.from_lists(list(rounds["ranking"]), models=result.state.models)
    )
    assert np.allclose(result.state.mu, replay.extras["mu"])
    assert np.allclose(result.state.sigma, replay.extras["sigma"])
    # The leaderboard is Plackett-Luce on the rankings, with openskill's μ and σ beside it.
    board = list(result.leaderboard["model"])
    assert board[0] == "ace" and board[-1] == "eel" and sorted(board) == sorted(QUALITY)
    assert {"mu", "sigma", "rounds"} <= set(result.leaderboard.columns)
    assert (result.leaderboard["ci_low"] < result.leaderboard["rating"]).all()
    con = duckdb.connect(str(db), read_only=True)
    methods = {r[0] for r in con.execute("SELECT DISTINCT method FROM ratings").fetchall()}
    kind = con.execute("SELECT kind, status FROM runs").fetchall()
    con.close()
    assert methods == {"openskill", "pl", "bt"} and kind == [("arena", "finished")]


def test_an_interrupted_arena_resumes_without_repeating_rounds(tmp_path: Path) -> None:
    path = write_arena(tmp_path)
    straight = run_arena(path, db=tmp_path / "straight.duckdb", judge=oracle_judge())

    db = tmp_path / "resumed.duckdb"
    first = interrupting(stop_at=4)
    with pytest.raises(KeyboardInterrupt):
        run_arena(path, db=db, judge=first)
    con = duckdb.connect(str(db), read_only=True)
    stored = con.execute("SELECT count(*) FROM arena_rounds").fetchone()
    status = con.execute("SELECT status FROM runs").fetchone()
    con.close()
    assert stored == (3,) and status == ("interrupted",)

    second = interrupting(stop_at=0)
    resumed = run_arena(path, db=db, judge=second)
    assert resumed.stats["resumed_from"] == 3 and resumed.stats["new_rounds"] == 5
    rounds = resumed.rounds
    # The three stored rounds were replayed, not re-judged; a new round that repeats an
    # earlier request exactly (same prompt, models and order) is a cache hit.
    fresh = set(rounds["request_hash"][3:]) - set(rounds["request_hash"][:3])
    assert second.calls == len(fresh) >= 4
    assert list(rounds["round_index"]) == list(range(8))  # no round twice, none missing
    columns = ["prompt_id", "models", "shown", "ranking", "request_hash"]
    assert rounds[columns].equals(straight.rounds[columns])
    assert np.array_equal(resumed.state.mu, straight.state.mu)
    assert np.array_equal(resumed.state.sigma, straight.state.sigma)
    assert resumed.leaderboard.equals(straight.leaderboard)


def test_raising_the_budget_continues_the_same_arena(tmp_path: Path) -> None:
    path = write_arena(tmp_path)
    db = tmp_path / "arena.duckdb"
    short = run_arena(path, db=db, judge=oracle_judge(), budget=4)
    longer = run_arena(path, db=db, judge=oracle_judge(), budget=8)
    assert longer.run_id == short.run_id and longer.stats["new_rounds"] == 4
    straight = run_arena(path, db=tmp_path / "other.duckdb", judge=oracle_judge())
    assert np.array_equal(longer.state.mu, straight.state.mu)


def test_the_arena_stops_once_every_sigma_is_small(tmp_path: Path) -> None:
    path = write_arena(tmp_path, sigma_threshold=7.5, budget=200)
    result = run_arena(path, db=":memory:", judge=oracle_judge())
    assert result.stats["stop"] == "converged" and result.stats["rounds"] < 200
    assert result.stats["max_sigma"] < 7.5


def test_failed_rounds_are_stored_and_do_not_move_ratings(tmp_path: Path) -> None:
    replies = iter(["[2] > [1] > [3]", "I refuse to rank these."] * 3)
    judge = ScriptedJudge(lambda r: next(replies), supports_logprobs=False)
    result = run_arena(write_arena(tmp_path, budget=6), db=":memory:", judge=judge)
    failed = result.rounds[result.rounds["status"] == "parse_error"]
    assert len(failed) == 3 and result.stats["failed_rounds"] == 3
    assert set(failed["raw"]) == {"I refuse to rank these."} and failed["ranking"].isna().all()
    assert len(result.state.rankings) == 3
    # A failed round leaves its models' ratings where they were.
    for row in failed.itertuples():
        before = result.rounds.iloc[: row.Index]
        for model, mu in row.mu_after.items():
            earlier = [r[model] for r in before["mu_after"] if model in r]
            assert mu == (earlier[-1] if earlier else 25.0)


def test_state_replays_exactly() -> None:
    state = ArenaState.fresh(["a", "b", "c"])
    state.apply((2, 0, 1), prompt_id="p")
    state.apply(None, prompt_id="p")
    state.apply((0, 1), prompt_id="q")
    again = ArenaState.fresh(["a", "b", "c"])
    for ranking, pid in (((2, 0, 1), "p"), (None, "p"), ((0, 1), "q")):
        again.apply(ranking, prompt_id=pid)
    assert np.array_equal(state.mu, again.mu) and state.prompt_use == {"p": 2, "q": 1}
    assert state.rounds == 3 and state.failed == 1


def test_arena_cli_run_and_status(tmp_path: Path) -> None:
    root = JudgekitGroup(name="judgekit", commands={"arena": arena_group})
    path = write_arena(tmp_path, budget=3)
    db = tmp_path / "cli.duckdb"
    runner = CliRunner()
    result = runner.invoke(root, ["arena", "run", str(path), "--db", str(db), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "Arena toy" in result.stdout and "σ" in result.stdout
    assert "3/3 rounds" in result.stderr
    again = runner.invoke(
        root, ["arena", "run", str(path), "--db", str(db), "--budget", "5", "--json"]
    )
    assert again.exit_code == 0, again.output
    stats = json.loads(again.stdout)["stats"]
    assert stats["resumed_from"] == 3 and stats["rounds"] == 5
    status = runner.invoke(root, ["arena", "status", str(path), "--db", str(db), "--json"])
    assert status.exit_code == 0, status.output
    payload = json.loads(status.stdout)
    assert payload["rounds"] == 5 and payload["budget"] == 5
    assert {m["model"] for m in payload["models"]} == set(QUALITY)
    bad = runner.invoke(root, ["arena", "run", str(tmp_path / "nope.yaml"), "--db", str(db)])
    assert bad.exit_code == 1 and "arena file not found" in bad.output


def test_every_arena_command_has_help() -> None:
    assert isinstance(arena_group, click.Group)
    for name, command in arena_group.commands.items():
        assert command.help, name


BAD_INPUTS = Path(__file__).parent / "fixtures" / "bad_inputs" / "arena"


def _bad_cases() -> list[dict[str, object]]:
    import yaml

    cases = yaml.safe_load((BAD_INPUTS / "cases.yaml").read_text(encoding="utf-8"))["cases"]
    return list(cases)


@pytest.fixture(scope="module")
def filled_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding an earlier run, as the bad-input harness gives each case."""
    from judgekit.runs.compare import compare

    db = tmp_path_factory.mktemp("bad-arena") / "filled.duckdb"
    outputs = sorted((BAD_INPUTS / "outputs").glob("[abg]*a.jsonl"))
    compare(outputs, judge="fake/hash", db=db, bootstrap=0)
    return db


@pytest.mark.parametrize("case", _bad_cases(), ids=lambda c: str(c["file"]))
def test_bad_arena_files_fail_clearly_and_leave_the_store_alone(
    case: dict[str, object], filled_store: Path, tmp_path: Path
) -> None:
    from judgekit.cli import cli

    db = tmp_path / "store.duckdb"
    db.write_bytes(filled_store.read_bytes())
    before = db.read_bytes()
    fixture = BAD_INPUTS / str(case["file"])
    assert fixture.is_file()
    fill = {"{fixture}": str(fixture), "{dir}": str(BAD_INPUTS), "{db}": str(db)}
    argv = [fill.get(str(a), str(a)) for a in case["argv"]]  # type: ignore[attr-defined]
    result = CliRunner().invoke(cli, argv)
    text = (result.output + (result.stderr or "")).lower()
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    for expected in case["expect"]:  # type: ignore[attr-defined]
        assert str(expected).lower() in text, (expected, result.output)
    assert db.read_bytes() == before
    assert not (tmp_path / "store.duckdb.wal").exists()


def test_the_bad_input_fixtures_cover_every_kind_of_mistake() -> None:
    files = {str(c["file"]) for c in _bad_cases()}
    for name in (
        "truncated.yaml",
        "wrong_type_k.yaml",
        "missing_candidates.yaml",
        "unknown_key.yaml",
        "negative_budget.yaml",
        "k_too_large.yaml",
        "missing_output_file.yaml",
        "duplicate_models.yaml",
    ):
        assert name in files
    # Every case's file exists, so a typo in cases.yaml cannot pass as "an error was shown".
    assert all((BAD_INPUTS / f).is_file() for f in files)


def test_arena_run_shows_live_progress(tmp_path: Path) -> None:
    from judgekit.cli import cli

    path = write_arena(tmp_path, budget=3, judge="fake/hash")
    result = CliRunner().invoke(cli, ["arena", "run", str(path), "--db", str(tmp_path / "p.db")])
    assert result.exit_code == 0, result.output
    # The bar counts rounds against the budget and names the leader and the largest σ.
    assert "3/3" in result.stderr and "leader " in result.stderr and "max σ" in result.stderr
    quiet = CliRunner().invoke(
        cli, ["arena", "run", str(path), "--db", str(tmp_path / "q.db"), "--no-progress"]
    )
    assert quiet.exit_code == 0 and "leader " not in quiet.stderr
