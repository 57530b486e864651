"""The bad-input corpus: every malformed file under tests/fixtures/bad_inputs/ is turned away.

Kinds: outputs, human labels, rubrics, prompt templates, peers' files (``import``), command
line options, checklists, preference pairs, battles and arena definitions. Each
``<kind>/cases.yaml`` lists cases (a file, the CLI argv, the substrings the message
must contain). For every case the CLI must exit non-zero with a specific message (file and
line or key), print no traceback, and leave a store that already holds a run unchanged
byte for byte, with no lock or WAL file left beside it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

import judgekit
from judgekit.cli import cli

CORPUS = Path(__file__).parent / "fixtures" / "bad_inputs"
DB_NAME = "store.duckdb"


def _huge_output(path: Path) -> None:
    """A valid outputs file whose second answer is 10 MiB of text: too long to judge."""
    rows = [
        {
            "prompt_id": "p1",
            "prompt": "What is the capital of France?",
            "model": "model_a",
            "output": "Paris.",
        },
        {
            "prompt_id": "p2",
            "prompt": "Name a prime number larger than 10.",
            "model": "model_a",
            "output": "13 " + "x" * (10 * 2**20 - 3),
        },
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _deep_nesting(path: Path) -> None:
    """A good first line, then a JSON line nested 100,000 levels deep (json recurses per level)."""
    good = (CORPUS / "outputs" / "good_a.jsonl").read_text(encoding="utf-8").splitlines()[0]
    path.write_text(good + "\n" + "[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")


#: Fixtures too big to commit, written at test time (``generate:`` in a manifest).
GENERATORS: dict[str, Callable[[Path], None]] = {
    "huge_output": _huge_output,
    "deep_nesting": _deep_nesting,
}


def _cases() -> list[Any]:
    params = []
    for manifest in sorted(CORPUS.glob("*/cases.yaml")):
        kind = manifest.parent.name
        for case in yaml.safe_load(manifest.read_text(encoding="utf-8"))["cases"]:
            params.append(pytest.param(manifest.parent, case, id=f"{kind}/{case['file']}"))
    return params


CASES = _cases()


@pytest.fixture(scope="session")
def filled_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding one small real run (fake judge), so 'unchanged' means something."""
    folder = tmp_path_factory.mktemp("filled")
    db = folder / DB_NAME
    outputs = CORPUS / "outputs"
    judgekit.compare(
        [outputs / "good_a.jsonl", outputs / "good_b.jsonl"],
        judge="fake/hash",
        db=db,
        bootstrap=10,
    )
    return db


def test_the_corpus_holds_at_least_40_distinct_cases_of_every_kind_of_input() -> None:
    files = {(p.values[0].name, p.values[1]["file"]) for p in CASES}
    assert len(files) == len(CASES) >= 40
    kinds = {p.values[0].name for p in CASES}
    assert {
        "outputs",
        "labels",
        "rubric",
        "templates",
        "peers",
        "options",
        "checklists",
        "preferences",
        "battles",
        "arena",
    } <= kinds


@pytest.mark.parametrize(("folder", "case"), CASES)
def test_bad_input_is_refused_with_a_specific_message(
    folder: Path, case: dict[str, Any], filled_store: Path, tmp_path: Path
) -> None:
    fixture = folder / case["file"]
    if "generate" in case:
        fixture = tmp_path / "generated" / case["file"]
        fixture.parent.mkdir()
        GENERATORS[case["generate"]](fixture)
    assert fixture.is_file(), f"missing fixture {fixture}"
    store_dir = tmp_path / "store"
    store_dir.mkdir()
    db = store_dir / DB_NAME
    shutil.copyfile(filled_store, db)
    before = db.read_bytes()
    values = {"fixture": str(fixture), "dir": str(folder), "db": str(db)}
    argv = [arg.format(**values) for arg in case["argv"]]

    result = CliRunner().invoke(cli, argv, catch_exceptions=True)

    output = result.output
    unexpected = result.exception if not isinstance(result.exception, SystemExit) else None
    assert unexpected is None, f"uncaught {unexpected!r}\n{output}"
    assert result.exit_code != 0, output
    assert "Traceback" not in output
    for expected in case["expect"]:
        assert expected.lower() in output.lower(), f"{expected!r} not in:\n{output}"
    assert db.read_bytes() == before, "the store was modified"
    assert sorted(p.name for p in store_dir.iterdir()) == [DB_NAME], "stray lock/WAL files"


# -- good inputs that look odd: accepted on purpose ------------------------------------------


def test_a_utf8_bom_is_accepted_in_outputs_battles_and_rubrics(tmp_path: Path) -> None:
    # Spreadsheet exports (Excel's "CSV UTF-8") start with a BOM; it is not data.
    bom = "\ufeff"
    outputs = CORPUS / "outputs"
    jsonl = tmp_path / "bom_a.jsonl"
    jsonl.write_text(bom + (outputs / "good_a.jsonl").read_text(encoding="utf-8"), "utf-8")
    rows = [json.loads(line) for line in (outputs / "good_b.jsonl").read_text().splitlines()]
    csv_file = tmp_path / "bom_b.csv"
    csv_file.write_text(
        bom
        + "prompt_id,prompt,model,output\n"
        + "".join(f'{r["prompt_id"]},"{r["prompt"]}",{r["model"]},"{r["output"]}"\n' for r in rows),
        encoding="utf-8",
    )
    result = judgekit.compare([jsonl, csv_file], judge="fake/hash", db=":memory:", bootstrap=0)
    assert result.stats["comparisons"] == 3
    assert set(result.leaderboard["model"]) == {"model_a", "model_b"}
    assert set(result.outcomes["prompt_id"]) == {"p1", "p2", "p3"}  # not "\ufeffprompt_id"

    battles = tmp_path / "bom_battles.csv"
    battles.write_text(bom + "model_a,model_b,winner\nm1,m2,model_a\nm2,m1,tie\n", "utf-8")
    ranked = CliRunner().invoke(cli, ["rank", str(battles), "--json", "--bootstrap", "0"])
    assert ranked.exit_code == 0, ranked.output
    assert {r["model"] for r in json.loads(ranked.output)["leaderboard"]} == {"m1", "m2"}

    rubric = tmp_path / "bom_rubric.yaml"
    text = (CORPUS / "rubric" / "negative_weight.yaml").read_text(encoding="utf-8")
    rubric.write_text(bom + text.replace("weight: -1", "weight: 2"), encoding="utf-8")
    shown = CliRunner().invoke(cli, ["rubrics", "show", str(rubric), "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["criteria"][0]["weight"] == 2


def test_the_output_length_limit_is_configurable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from judgekit.errors import InputError
    from judgekit.inputs.outputs import MAX_TEXT_ENV, load_outputs

    huge = tmp_path / "huge_output.jsonl"
    _huge_output(huge)
    outputs = [huge, CORPUS / "outputs" / "good_b.jsonl"]
    with pytest.raises(InputError, match=r"huge_output.jsonl:2: 'output' is 10,485,760"):
        load_outputs(outputs)
    monkeypatch.setenv(MAX_TEXT_ENV, "0")  # no limit
    loaded = load_outputs(outputs)
    assert max(len(c.output) for c in loaded.candidates) == 10 * 2**20
    monkeypatch.setenv(MAX_TEXT_ENV, "5")
    with pytest.raises(
        InputError, match=r"good_b.jsonl:1: 'prompt' is 30 characters long, over the limit of 5"
    ):
        load_outputs(outputs[1:])
    monkeypatch.setenv(MAX_TEXT_ENV, "lots")
    with pytest.raises(InputError, match="not a whole number"):
        load_outputs(outputs[1:])
