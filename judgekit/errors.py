"""The judgekit exception tree.

    JudgekitError
    ├── ConfigError              bad options, arena or rubric files
    │   └── InputError           bad input data; carries the file and line
    ├── MissingDependencyError   an optional extra is not installed
    ├── JudgeError               a judge backend failed
    │   ├── RateLimited          HTTP 429 (retryable)
    │   ├── JudgeTimeout         the request timed out (retryable)
    │   └── JudgeUnavailable     the server cannot be reached at all
    ├── ParseError               a judge's text could not be parsed
    └── StoreError               the DuckDB store cannot be used

    JudgeTrustWarning (a UserWarning) the run's own verdicts say its judge is unreliable

The library raises (and warns); only ``judgekit.cli`` turns these into exit codes and messages.
"""

from __future__ import annotations


class JudgekitError(Exception):
    """Base class of every error judgekit raises on purpose."""


class ConfigError(JudgekitError):
    """An option, arena file or rubric file is invalid."""


class InputError(ConfigError):
    """Input data is malformed. The message names the file and, where known, the line."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        self.path = path
        self.line = line
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(f"{where}{message}")


class MissingDependencyError(JudgekitError):
    """An optional extra is needed; the message gives the pip command."""

    def __init__(self, feature: str, *, extra: str, module: str) -> None:
        self.extra = extra
        super().__init__(
            f"{feature} needs the '{module}' package, which is not installed. "
            f"Install it with: pip install 'judgekit[{extra}]'"
        )


class JudgeError(JudgekitError):
    """A judge backend failed to produce a response."""


class RateLimited(JudgeError):
    """The backend answered 429; retry after ``retry_after`` seconds if given."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class JudgeTimeout(JudgeError):
    """The request to the backend timed out."""


class JudgeUnavailable(JudgeError):
    """The backend cannot be reached at all (connection refused, unknown host)."""


class ParseError(JudgekitError):
    """A judge's output could not be parsed into a verdict."""


class StoreError(JudgekitError):
    """The DuckDB store is missing, locked, corrupt or from a newer schema."""


class JudgeTrustWarning(UserWarning):
    """A run's trust report found its judge unreliable (order-driven, biased, unable to
    separate the models, or no better than chance or answer length against human labels).

    Raised with :func:`warnings.warn`, so a pipeline can filter it or turn it into an error:
    ``warnings.simplefilter("error", JudgeTrustWarning)``.
    """
