"""Say why judge calls failed: failures grouped by cause, with the server and a next step.

When every call of a run fails, one line such as

    2 of 2 judge calls failed: 2 x HTTP 401 Unauthorized (Incorrect API key provided) from
    http://127.0.0.1:8000/v1; check --api-key-env (the key is read from OPENAI_API_KEY)

tells the user more than a bare "no comparisons". Failed calls stay stored as data, and a
re-run sends them again (only successful calls are reused).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

_STATUS = re.compile(r"HTTP (\d{3})")
_SERVER_MESSAGE = re.compile(
    r"""['"]message['"]\s*:\s*['"]([^'"]{1,200})['"]|Error code: \d{3} - ([^{}]{1,120})$"""
)
_KINDS = {
    "timeout": "timeout",
    "connection_error": "connection error",
    "bad_response": "malformed reply",
    "rate_limited": "HTTP 429 Too Many Requests",
}
_MAX_GROUPS = 3


def failure_cause(error: str | None) -> tuple[str, str]:
    """``(cause, detail)`` of one stored error: the HTTP status or kind, and a short detail."""
    text = " ".join(str(error or "unknown error").split())
    kind = text.split(":", 1)[0]
    detail_match = _SERVER_MESSAGE.search(text)
    detail = next((g for g in detail_match.groups() if g), "") if detail_match else ""
    status = _STATUS.search(text)
    if kind == "rate_limited":
        return _KINDS[kind], detail
    if status is not None:
        code = int(status.group(1))
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = ""
        return f"HTTP {code} {phrase}".strip(), detail
    if kind in _KINDS:
        rest = text.split(":", 1)[1].strip() if ":" in text else ""
        return _KINDS[kind], detail or rest[:120]
    return text[:120], detail


def _hint(cause: str, *, key_env: str | None) -> str:
    if cause.startswith(("HTTP 401", "HTTP 403")):
        where = f" (the key is read from {key_env})" if key_env else ""
        return f"check --api-key-env{where}"
    if cause.startswith("HTTP 404"):
        return "check the model name in --judge and the --base-url path (usually ending in /v1)"
    if cause.startswith("HTTP 429"):
        return "lower --concurrency or raise --max-retries"
    if cause.startswith("HTTP 5"):
        return "the server failed; run again later (failures are retried) or raise --max-retries"
    if cause == "timeout":
        return "raise --timeout, or lower --concurrency"
    if cause == "connection error":
        return "is the server running and reachable?"
    return "see the stored errors with `judgekit export` or the dashboard's drill-down"


def judge_endpoint(judge: Any) -> str | None:
    """The URL an API judge talks to, if it has one."""
    options = getattr(judge, "options", None)
    base_url = getattr(options, "base_url", None)
    if base_url:
        return str(base_url)
    judge_id = str(getattr(judge, "id", ""))
    if judge_id.startswith("openai/"):
        from judgekit.judges.api_common import default_openai_url

        return default_openai_url()
    return None


def summarize_failures(errors: Iterable[str | None], *, calls: int, judge: Any) -> str:
    """One line: how many of ``calls`` failed, grouped by cause (largest first), and a hint."""
    causes = [failure_cause(e) for e in errors]
    failed = len(causes)
    counts = Counter(cause for cause, _ in causes)
    details = {cause: detail for cause, detail in reversed(causes) if detail}
    endpoint = judge_endpoint(judge)
    options = getattr(judge, "options", None)
    key_env = getattr(options, "api_key_env", None) if endpoint else None
    parts = []
    for cause, n in counts.most_common(_MAX_GROUPS):
        detail = f" ({details[cause]})" if cause in details else ""
        source = f" from {endpoint}" if endpoint else ""
        parts.append(f"{n} x {cause}{detail}{source}; {_hint(cause, key_env=key_env)}")
    others = failed - sum(n for _, n in counts.most_common(_MAX_GROUPS))
    if others:
        parts.append(f"{others} more of {len(counts) - _MAX_GROUPS} other kinds")
    judge_id = getattr(judge, "id", "the judge")
    return (
        f"{failed} of {calls} judge calls to {judge_id} failed: "
        + " | ".join(parts)
        + ". The failures are stored; run the same command again to retry them."
    )


def no_usable_verdicts(verdicts: Any, *, judge: Any) -> str:
    """Why a run has no usable verdict, from its per-order verdict rows (one per request).

    ``verdicts`` needs ``request_hash``, ``status`` (``judge_error`` for a failed call,
    ``parse_error`` for an unreadable reply) and ``error``.
    """
    unique = verdicts.drop_duplicates("request_hash")
    failed = unique[unique["status"] == "judge_error"]
    if len(failed):
        return summarize_failures(failed["error"], calls=len(unique), judge=judge)
    unreadable = int((unique["status"] == "parse_error").sum())
    return (
        f"no usable verdicts: {unreadable} of {len(unique)} replies of {judge.id} could not be "
        "read as a verdict; try --verdict generate or another judge"
    )
