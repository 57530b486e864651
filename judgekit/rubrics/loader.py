"""Load rubrics (YAML) and checklists (JSONL) as data, with errors that name file and line.

Rubrics live in ``rubrics/<name>/rubric.yaml`` (the top-level data folder of a checkout, or
the package data once installed), or anywhere on disk given by path. The loader reads files
and never imports them. A rubric's prompt template is loaded and checked with it, so an
unknown or missing ``$variable`` fails at load time, not in the middle of a run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from judgekit.errors import ConfigError, InputError
from judgekit.inputs.outputs import prompt_id_for
from judgekit.inputs.tabular import decode_utf8, is_missing, read_rows
from judgekit.inputs.templates import PromptTemplate, load_template, rubrics_dir
from judgekit.rubrics.model import Checklist, ChecklistQuestion, LocatedValueError, Rubric
from judgekit.types import Item

RUBRIC_FILE = "rubric.yaml"
PROMPT_FILE = "prompt.md"
DEFAULT_TEMPLATE = "pointwise"

#: Variables a pointwise template may use, and those it must use for grading to work.
POINTWISE_VARIABLES = frozenset(
    {
        "instruction",
        "response",
        "reference_section",
        "score_rubric",
        "output_format",
        "min_score",
        "max_score",
    }
)
POINTWISE_REQUIRED = frozenset({"instruction", "response", "score_rubric", "output_format"})


@dataclass(frozen=True)
class LoadedRubric:
    """A validated rubric with its checked prompt template."""

    rubric: Rubric
    template: PromptTemplate
    path: Path | None = None

    @property
    def name(self) -> str:
        return self.rubric.name

    def content_hash(self) -> str:
        """Rubric and template together: either one changing makes a new run."""
        import hashlib

        digest = hashlib.sha256(self.rubric.content_hash().encode())
        digest.update(self.template.text.encode())
        return digest.hexdigest()[:16]


# -- rubrics -----------------------------------------------------------------------------


def _node_line(node: yaml.Node, loc: Sequence[int | str]) -> int:
    """The 1-based line of the YAML node that a pydantic error location points at."""
    current = node
    for key in loc:
        if isinstance(current, yaml.MappingNode):
            match = next((v for k, v in current.value if str(k.value) == str(key)), None)
            if match is None:
                break
            current = match
        elif isinstance(current, yaml.SequenceNode) and isinstance(key, int):
            if key >= len(current.value):
                break
            current = current.value[key]
        else:
            break
    return current.start_mark.line + 1


def _check_duplicate_keys(node: yaml.Node, path: Path) -> None:
    # PyYAML keeps the last of two equal keys silently; in a rubric that hides a typo.
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = str(key.value)
            if name in seen:
                raise InputError(
                    f"duplicate key {name!r}", path=str(path), line=key.start_mark.line + 1
                )
            seen.add(name)
            _check_duplicate_keys(value, path)
    elif isinstance(node, yaml.SequenceNode):
        for child in node.value:
            _check_duplicate_keys(child, path)


def parse_rubric(text: str, *, path: Path) -> Rubric:
    """Validate rubric YAML text.

    Raises:
        InputError: malformed YAML or a schema violation; the message names file and line.
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise InputError(
            f"malformed YAML: {exc.problem or exc}", path=str(path), line=line
        ) from None
    if node is None or not isinstance(data, dict):
        raise InputError(
            "a rubric must be a YAML mapping (version, name, criteria, ...)", path=str(path)
        )
    _check_duplicate_keys(node, path)
    try:
        return Rubric.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        located = error.get("ctx", {}).get("error")
        raw_loc = located.loc if isinstance(located, LocatedValueError) else error["loc"]
        loc = [k for k in raw_loc if isinstance(k, (int, str))]
        where = ".".join(str(k) for k in loc) or "rubric"
        message = error["msg"].removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        raise InputError(
            f"{where}: {message}{more}", path=str(path), line=_node_line(node, loc)
        ) from None


def _template_for(rubric: Rubric, folder: Path | None) -> PromptTemplate:
    name = rubric.template
    if name is None:
        own = folder / PROMPT_FILE if folder is not None else None
        name = str(own) if own is not None and own.is_file() else DEFAULT_TEMPLATE
    elif folder is not None and (folder / name).is_file():
        name = str((folder / name).resolve())
    template = load_template(name, allowed=POINTWISE_VARIABLES)
    missing = POINTWISE_REQUIRED - template.variables
    if missing:
        raise ConfigError(
            f"{template.path}: the template does not use "
            f"{', '.join('$' + v for v in sorted(missing))}; a pointwise template must show "
            "the instruction, the response, the score rubric and the output format"
        )
    return template


def _resolve(name_or_path: str | Path) -> Path:
    text = str(name_or_path)
    candidate = Path(text).expanduser()
    looks_like_path = (
        isinstance(name_or_path, Path) or "/" in text or text.endswith((".yaml", ".yml"))
    )
    if looks_like_path or candidate.exists():
        if candidate.is_dir():
            candidate = candidate / RUBRIC_FILE
        if not candidate.is_file():
            raise ConfigError(f"rubric file not found: {candidate}")
        return candidate
    path = rubrics_dir() / text / RUBRIC_FILE
    if not path.is_file():
        known = ", ".join(rubric_names()) or "none"
        raise ConfigError(f"unknown rubric {text!r}; shipped rubrics: {known} (or give a path)")
    return path


def load_rubric(rubric: str | Path | Rubric | LoadedRubric) -> LoadedRubric:
    """Load a rubric by name (``helpfulness``), folder or YAML path, and check its template.

    A :class:`Rubric` built in code is accepted too; its ``template`` names a shared template
    or a file path.

    Raises:
        ConfigError: unknown name, missing file, or a template with bad variables.
        InputError: malformed YAML or schema violations, naming file and line.
    """
    if isinstance(rubric, LoadedRubric):
        return rubric
    if isinstance(rubric, Rubric):
        return LoadedRubric(rubric=rubric, template=_template_for(rubric, None))
    path = _resolve(rubric)
    text = decode_utf8(path.read_bytes(), path=path)
    parsed = parse_rubric(text, path=path)
    return LoadedRubric(rubric=parsed, template=_template_for(parsed, path.parent), path=path)


def rubric_names() -> list[str]:
    """Names of the shipped rubrics (folders of ``rubrics/`` holding a ``rubric.yaml``)."""
    root = rubrics_dir()
    if not root.is_dir():
        return []
    return sorted(p.parent.name for p in root.glob(f"*/{RUBRIC_FILE}"))


def list_rubrics() -> list[LoadedRubric]:
    """Every shipped rubric, loaded and checked."""
    return [load_rubric(name) for name in rubric_names()]


# -- checklists ----------------------------------------------------------------------------

_CHECKLIST_KEYS = {"prompt_id", "prompt", "instruction", "questions", "question", "weight"}
_CHECKLIST_KEYS |= {"source", "generator"}


def _question(value: Any, *, path: str, line: int) -> ChecklistQuestion:
    if isinstance(value, str):
        value = {"question": value}
    if not isinstance(value, dict):
        raise InputError(
            "each question must be a string or {question, weight}", path=path, line=line
        )
    if isinstance(value.get("question"), str):
        value = {**value, "question": value["question"].strip()}
    try:
        return ChecklistQuestion.model_validate(value)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(k) for k in error["loc"])
        raise InputError(f"{where}: {error['msg']}", path=path, line=line) from None


def load_checklists(
    path: str | Path, *, items: Mapping[str, Item] | None = None
) -> dict[str, Checklist]:
    """Read user-written checklists from JSONL (also JSON, CSV or Parquet).

    Each row names its item by ``prompt_id`` or by its ``prompt`` text, and carries either a
    ``questions`` list (strings or ``{question, weight}`` objects) or one ``question`` with an
    optional ``weight``; rows of the same item add up, in file order. Files written by
    :func:`dump_checklists` read back unchanged.

    Raises:
        InputError: malformed rows, unknown keys or empty questions, naming file and line.
    """
    name = str(path)
    by_text = {item.prompt.strip(): pid for pid, item in (items or {}).items()}
    questions: dict[str, list[ChecklistQuestion]] = {}
    meta: dict[str, dict[str, Any]] = {}
    for line, row in read_rows(path):
        unknown = sorted(set(row) - _CHECKLIST_KEYS)
        if unknown:
            raise InputError(
                f"unknown key(s) {', '.join(unknown)}; a checklist row has prompt_id or prompt, "
                "and questions (a list) or question (+ weight)",
                path=name,
                line=line,
            )
        prompt_id = row.get("prompt_id")
        text = row.get("prompt", row.get("instruction"))
        if is_missing(prompt_id):
            if not isinstance(text, str) or is_missing(text):
                raise InputError("a row needs a prompt_id or the prompt text", path=name, line=line)
            prompt_id = by_text.get(text.strip(), prompt_id_for(text))
        prompt_id = str(prompt_id)
        if "questions" in row:
            raw = row["questions"]
            if not isinstance(raw, list) or not raw:
                raise InputError("questions must be a non-empty list", path=name, line=line)
            if "question" in row or "weight" in row:
                raise InputError(
                    "give either questions (a list) or question (+ weight), not both",
                    path=name,
                    line=line,
                )
            new = [_question(q, path=name, line=line) for q in raw]
        elif "question" in row:
            entry = {"question": row["question"]}
            if "weight" in row and not is_missing(row["weight"]):
                entry["weight"] = row["weight"]
            new = [_question(entry, path=name, line=line)]
        else:
            raise InputError("a row needs questions (a list) or a question", path=name, line=line)
        questions.setdefault(prompt_id, []).extend(new)
        source = row.get("source", "user")
        if source not in ("user", "generated"):
            raise InputError("source must be 'user' or 'generated'", path=name, line=line)
        meta[prompt_id] = {"source": source, "generator": row.get("generator") or name}
    if not questions:
        raise InputError("no checklists found", path=name)
    return {
        pid: Checklist(prompt_id=pid, questions=tuple(qs), **meta[pid])
        for pid, qs in questions.items()
    }


def dump_checklists(
    checklists: Iterable[Checklist], path: str | Path, *, items: Mapping[str, Item] | None = None
) -> Path:
    """Write checklists as JSONL, one row per item, readable by :func:`load_checklists`."""
    out = Path(path)
    lines = []
    for checklist in sorted(checklists, key=lambda c: c.prompt_id):
        row: dict[str, Any] = {"prompt_id": checklist.prompt_id}
        if items is not None and checklist.prompt_id in items:
            row["prompt"] = items[checklist.prompt_id].prompt
        row["questions"] = [
            {"question": q.question, "weight": q.weight} for q in checklist.questions
        ]
        row["source"] = checklist.source
        if checklist.generator:
            row["generator"] = checklist.generator
        lines.append(json.dumps(row, ensure_ascii=False))
    out.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return out
