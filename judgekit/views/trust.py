"""A run's stored trust report as the dashboard shows it: the warnings for the banner and
the figures for the judge-quality panel.

The report is the ``trust`` object of ``--json``, stored per run by the command that judged
it and read back by :func:`judgekit.store.trust_queries.load_trust`. Every value here is
plain text; the page decides how to show it (warnings and names are never markdown).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from judgekit.store.db import Store
from judgekit.store.trust_queries import load_trust
from judgekit.views.boards import markdown_escape

TRUST_COLUMNS = ["figure", "value", "ci", "what"]
BANNER_LEAD = "This run's judge may not be trustworthy:"


@dataclass(frozen=True)
class TrustView:
    """One run's trust report, ready to show."""

    report: dict[str, Any]
    """The stored report as it is."""
    warnings: tuple[str, ...]
    """Each warning as one line of plain text."""
    figures: pd.DataFrame
    """:data:`TRUST_COLUMNS`: figure, value and 95 % CI as display strings, and what the
    figure measures."""
    has_labels: bool
    """The report holds agreement with human labels."""


def run_trust(store: Store, *, run_id: str) -> TrustView | None:
    """The trust report stored for a run, or None when it has none."""
    report = load_trust(store, run_id)
    return None if report is None else trust_view(report)


def trust_view(report: Mapping[str, Any]) -> TrustView:
    """The banner lines and the figure table of a stored trust report."""
    raw = report.get("warnings") or []
    warnings = tuple(_one_line(w) for w in (raw if isinstance(raw, list) else [raw]))
    # The label figures are in a report only where human labels exist.
    has_labels = "accuracy" in report
    rows = [
        (
            "Position flip rate",
            _share(report.get("flip_rate")),
            _share_ci(report.get("flip_rate_ci")),
            "both-order pairs whose winner changed when the answers swapped places",
        ),
        (
            "First-position rate",
            _share(report.get("first_position_rate")),
            "–",
            "single-order verdicts for the answer shown first; "
            f"p = {_p(report.get('p_first_position'))} against 50 %",
        ),
        (
            "Separation",
            f"p = {_p(report.get('p_no_difference'))}",
            "–",
            "likelihood-ratio test of the ratings against all models being equal"
            + _separated(report),
        ),
    ]
    if has_labels:
        rows += [
            (
                "Accuracy against humans",
                _share(report.get("accuracy")),
                _share_ci(report.get("accuracy_ci")),
                f"p = {_p(report.get('p_chance'))} against chance",
            ),
            (
                "Cohen's kappa",
                _number(report.get("kappa")),
                _number_ci(report.get("kappa_ci")),
                "agreement with humans beyond chance (0: none, 1: perfect)",
            ),
            (
                "Baseline: always the longer answer",
                _share(report.get("always_longer_accuracy")),
                "–",
                "accuracy of that rule on the same labels",
            ),
            (
                "Baseline: always the first answer",
                _share(report.get("always_first_accuracy")),
                "–",
                "accuracy of that rule on the same labels",
            ),
            (
                "Baseline: always the second answer",
                _share(report.get("always_second_accuracy")),
                "–",
                "accuracy of that rule on the same labels",
            ),
        ]
    figures = pd.DataFrame(rows, columns=TRUST_COLUMNS)
    return TrustView(dict(report), warnings, figures, has_labels)


def banner_markdown(warnings: Sequence[str]) -> str:
    """The banner's markdown: a fixed lead, then each warning as a list item with every
    markdown, HTML and LaTeX character escaped, so that it renders as the text it is (a
    warning may quote a model name)."""
    items = "\n".join(f"- {markdown_escape(w)}" for w in warnings)
    return f"**{BANNER_LEAD}**\n\n{items}"


def _one_line(text: Any) -> str:
    # A banner line is one list item: a newline in a warning would end it early.
    return " ".join(str(text).split())


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _share(value: Any) -> str:
    number = _finite(value)
    return "–" if number is None else f"{number:.1%}"


def _number(value: Any) -> str:
    number = _finite(value)
    return "–" if number is None else f"{number:.3f}"


def _interval(value: Any) -> tuple[float, float] | None:
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        return None
    low, high = _finite(value[0]), _finite(value[1])
    return None if low is None or high is None else (low, high)


def _share_ci(value: Any) -> str:
    bounds = _interval(value)
    return "–" if bounds is None else f"{bounds[0]:.1%} – {bounds[1]:.1%}"


def _number_ci(value: Any) -> str:
    bounds = _interval(value)
    return "–" if bounds is None else f"{bounds[0]:.3f} – {bounds[1]:.3f}"


def _p(value: Any) -> str:
    number = _finite(value)
    if number is None:
        return "–"
    return "< 0.001" if number < 0.001 else f"{number:.3f}"


def _separated(report: Mapping[str, Any]) -> str:
    separated, pairs = report.get("n_separated_pairs"), report.get("n_model_pairs")
    if _finite(separated) is None or _finite(pairs) is None or not pairs:
        return ""
    return f"; {int(separated)} of {int(pairs)} model pairs have intervals that do not overlap"
