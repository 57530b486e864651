"""Rubrics as data: the shipped rubrics, the YAML schema and its file:line errors, templates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from judgekit.commands.rubrics import rubrics
from judgekit.errors import ConfigError, InputError
from judgekit.protocols.pointwise import criteria_text, score_rubric_text
from judgekit.rubrics import load_rubric, rubric_names
from judgekit.rubrics.model import Rubric

DATA = Path(__file__).parent / "data" / "rubrics"

REQUIRED = {
    "helpfulness",
    "harmlessness",
    "honesty",
    "factual_correctness",
    "instruction_following",
    "conciseness",
    "child_readability",
    "code_correctness",
}

GOOD = """\
version: 1
name: tiny
scale: {min: 1, max: 3}
criteria:
  - id: quality
    question: Is it good?
    levels:
      1: Bad.
      3: Good.
"""


def _write(tmp_path: Path, text: str, name: str = "rubric.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_every_shipped_rubric_loads_with_its_template() -> None:
    names = rubric_names()
    assert REQUIRED <= set(names)
    for name in names:
        loaded = load_rubric(name)
        assert loaded.rubric.name == name
        assert loaded.rubric.version == 1
        assert {"instruction", "response", "score_rubric", "output_format"} <= (
            loaded.template.variables
        )
        for criterion in loaded.rubric.criteria:
            assert loaded.rubric.scale.min in criterion.levels
            assert loaded.rubric.scale.max in criterion.levels


def test_a_rubric_folder_with_prompt_md_uses_its_own_template() -> None:
    assert load_rubric("code_correctness").template.path.name == "prompt.md"
    assert load_rubric("helpfulness").template.path.name == "pointwise.md"


def test_load_by_path_folder_or_name_gives_the_same_rubric(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    by_file = load_rubric(path)
    by_folder = load_rubric(str(tmp_path))
    assert by_file.rubric == by_folder.rubric
    assert by_file.rubric.scale.labels == ("1", "2", "3")
    assert load_rubric(load_rubric("honesty")).name == "honesty"


def test_unknown_rubric_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ConfigError, match="unknown rubric 'nope'.*helpfulness"):
        load_rubric("nope")


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (GOOD.replace("criteria:", "criteria: [oops"), None, "malformed YAML"),
        (GOOD.replace("version: 1", "version: 2"), 1, "version"),
        (GOOD + "colour: blue\n", 10, "colour: Extra inputs are not permitted"),
        (
            GOOD.replace("      3: Good.", "      3: Good.\n      7: Too high."),
            10,
            "outside the scale",
        ),
        (
            GOOD.replace("      3: Good.", "      2: Middle."),
            8,
            "score 3 .scale end. needs a level",
        ),
        (GOOD.replace("  - id: quality", "  - id: Quality"), 5, "criteria.0.id"),
        (GOOD.replace("    question: Is it good?\n", ""), 5, "criteria.0.question: Field required"),
        (GOOD.replace("min: 1, max: 3", "min: 3, max: 1"), 3, "must be greater than min"),
        (GOOD.replace("      1: Bad.", "      1: Bad.\n      1: Worse."), 9, "duplicate key '1'"),
        (GOOD.replace("    question:", "    weight: -1\n    question:"), 6, "weight"),
        ("- just\n- a list\n", None, "must be a YAML mapping"),
    ],
    ids=[
        "syntax",
        "version",
        "unknown-key",
        "level-outside",
        "missing-end",
        "bad-id",
        "missing-question",
        "scale-order",
        "duplicate-key",
        "negative-weight",
        "not-a-mapping",
    ],
)
def test_schema_errors_name_file_and_line(
    tmp_path: Path, text: str, line: int | None, message: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(InputError, match=message) as info:
        load_rubric(path)
    assert info.value.path == str(path)
    if line is not None:
        assert info.value.line == line
        assert str(info.value).startswith(f"{path}:{line}: ")


def test_yaml_syntax_error_reports_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace("    question: Is it good?", "    question: : : ["))
    with pytest.raises(InputError) as info:
        load_rubric(path)
    assert info.value.line is not None and 5 <= info.value.line <= 7


def test_unknown_template_variable_is_an_error_at_load_time() -> None:
    with pytest.raises(ConfigError, match=r"prompt\.md:10: unknown template variable \$tone"):
        load_rubric(DATA / "bad_template")


def test_template_without_a_required_variable_is_an_error(tmp_path: Path) -> None:
    _write(tmp_path, GOOD)
    (tmp_path / "prompt.md").write_text("Grade $response by $score_rubric.\n$output_format\n")
    with pytest.raises(ConfigError, match=r"does not use \$instruction"):
        load_rubric(tmp_path)


def test_template_named_in_the_rubric_is_found_beside_it(tmp_path: Path) -> None:
    _write(tmp_path, GOOD + "template: mine.md\n")
    (tmp_path / "mine.md").write_text(
        "I: $instruction\nR: $response\n$reference_section\n$score_rubric\n$output_format\n"
    )
    assert load_rubric(tmp_path).template.path.name == "mine.md"


def test_anchored_ten_point_scale_and_references() -> None:
    loaded = load_rubric(DATA / "ten_point")
    spec = loaded.rubric
    assert spec.scale.labels == tuple(str(i) for i in range(11))
    assert not spec.scale.single_token_labels
    assert spec.reference_for("p2", "from the outputs") == "The per-item reference for p2."
    assert spec.reference_for("p1", "from the outputs") == "from the outputs"
    assert spec.reference_for("p1", None) == "The global reference answer."
    text = score_rubric_text(spec.criteria, spec.scale)
    assert "Score 5: Adequate." in text and "the scale runs from 0 to 10" in text


def test_rubric_rejects_duplicate_and_reserved_criterion_ids() -> None:
    criterion = {"id": "a", "question": "Q?", "levels": {1: "x", 5: "y"}}
    with pytest.raises(ValueError, match="duplicate criterion id"):
        Rubric.model_validate({"version": 1, "name": "r", "criteria": [criterion, criterion]})
    with pytest.raises(ValueError, match="reserved"):
        Rubric.model_validate(
            {"version": 1, "name": "r", "criteria": [{**criterion, "id": "overall"}]}
        )


def test_content_hash_changes_with_the_rubric_or_its_template(tmp_path: Path) -> None:
    _write(tmp_path, GOOD)
    before = load_rubric(tmp_path).content_hash()
    _write(tmp_path, GOOD.replace("Bad.", "Very bad."))
    assert load_rubric(tmp_path).content_hash() != before


def test_criteria_text_for_relative_grading() -> None:
    text = criteria_text(load_rubric("hhh"))
    for name in ("Helpful:", "Honest:", "Harmless:"):
        assert name in text
    assert "\n" not in text and "best:" in text


def test_rubrics_list_and_show_commands() -> None:
    runner = CliRunner()
    listed = runner.invoke(rubrics, ["list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert REQUIRED <= {r["name"] for r in rows}
    assert {"name": "code_correctness", "scale": [0, 4]}.items() <= next(
        r for r in rows if r["name"] == "code_correctness"
    ).items()
    table = runner.invoke(rubrics, ["list"])
    assert table.exit_code == 0 and "child_readability" in table.output

    shown = runner.invoke(rubrics, ["show", "hhh"])
    assert shown.exit_code == 0, shown.output
    for text in ("Helpful", "Honest", "Harmless", "Scale: 1 to 5", "pointwise.md"):
        assert text in shown.output
    as_json = json.loads(runner.invoke(rubrics, ["show", "honesty", "--json", "--prompt"]).output)
    assert as_json["name"] == "honesty" and "$score_rubric" in as_json["template_text"]
    missing = runner.invoke(rubrics, ["show", "nope"])
    assert missing.exit_code != 0 and "unknown rubric" in str(missing.exception)
