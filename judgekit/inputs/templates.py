"""Prompt templates: markdown files with ``string.Template`` ``$var`` placeholders.

Templates are data. They live in the top-level ``rubrics/templates/`` folder of a checkout,
or in the package's ``_data/rubrics/templates/`` once installed. A template declares the
variables it needs by using them; rendering with a missing or unknown variable is an error
that names the file, so a broken template fails at load time and not mid-run.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from judgekit.errors import ConfigError


def data_root() -> Path:
    """The folder that holds ``rubrics/`` and ``arenas/``: the checkout, else package data."""
    package = Path(__file__).resolve().parents[1]  # judgekit/
    checkout = package.parent
    if (checkout / "rubrics").is_dir():
        return checkout
    return package / "_data"


def rubrics_dir() -> Path:
    return data_root() / "rubrics"


@dataclass(frozen=True)
class PromptTemplate:
    """A loaded template and the set of variables it uses."""

    path: Path
    text: str
    variables: frozenset[str]

    def render(self, **values: str) -> str:
        missing = self.variables - values.keys()
        if missing:
            raise ConfigError(
                f"{self.path}: missing template variables: {', '.join(sorted(missing))}"
            )
        return string.Template(self.text).substitute(values)


def parse_template(
    text: str, *, path: Path, allowed: frozenset[str] | None = None
) -> PromptTemplate:
    """Parse ``text`` and check its placeholders against ``allowed``.

    Raises:
        ConfigError: a placeholder is malformed or not among ``allowed``; the message names
            the file and line.
    """
    template = string.Template(text)
    if not template.is_valid():
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not string.Template(line).is_valid():
                raise ConfigError(f"{path}:{lineno}: malformed placeholder (use $name or $$ for $)")
    names = frozenset(template.get_identifiers())
    if allowed is not None:
        unknown = names - allowed
        if unknown:
            name = sorted(unknown)[0]
            lineno = next(
                (
                    i
                    for i, line in enumerate(text.splitlines(), 1)
                    if f"${name}" in line or f"${{{name}}}" in line
                ),
                None,
            )
            where = f"{path}:{lineno}" if lineno else str(path)
            raise ConfigError(
                f"{where}: unknown template variable ${name}; allowed: {', '.join(sorted(allowed))}"
            )
    return PromptTemplate(path=path, text=text, variables=names)


@lru_cache(maxsize=64)
def load_template(name_or_path: str, *, allowed: frozenset[str] | None = None) -> PromptTemplate:
    """Load ``rubrics/templates/<name>.md`` or a template file given by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = rubrics_dir() / "templates" / f"{name_or_path}.md"
    if not path.is_file():
        raise ConfigError(f"prompt template not found: {path}")
    from judgekit.inputs.tabular import decode_utf8

    text = decode_utf8(path.read_bytes(), path=path)
    return parse_template(text, path=path, allowed=allowed)
