"""The trust report on the terminal: one line under a table, and a warning block per warning."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from judgekit.errors import JudgeTrustWarning
from judgekit.quality.trust import TrustReport


def _num(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _ci(interval: tuple[float, float] | None) -> str:
    if interval is None or not all(_num(x) for x in interval):
        return ""
    return f" [{100 * interval[0]:.1f}–{100 * interval[1]:.1f}]"


def _p(value: float) -> str:
    return f"{value:.3f}" if value >= 0.001 else f"{value:.1e}"


def trust_line(report: TrustReport) -> str:
    """One line: flip rate, position preference, separation and, with labels, the label figures."""
    parts: list[str] = []
    if _num(report.flip_rate):
        assert report.flip_rate is not None
        parts.append(f"flip rate {_pct(report.flip_rate)}{_ci(report.flip_rate_ci)}")
    rate, p = report.first_position_rate, report.p_first_position
    if _num(rate) and _num(p):
        assert rate is not None and p is not None
        expected = report.first_position_expected or 0.5
        unbiased = "" if expected == 0.5 else f", unbiased {_pct(expected)}"
        parts.append(f"first shown picked {_pct(rate)} (p={_p(p)}{unbiased})")
    if report.kind == "pointwise":
        parts.append("position n/a (each answer scored alone)")
    if _num(report.p_no_difference):
        assert report.p_no_difference is not None
        test = "Kruskal-Wallis" if report.separation_test == "kruskal-wallis" else "LR"
        parts.append(f"separation p={_p(report.p_no_difference)} ({test})")
    else:
        parts.append("separation n/a (fewer than two models)")
    if report.n_separated_pairs is not None and report.n_model_pairs:
        parts.append(f"{report.n_separated_pairs}/{report.n_model_pairs} pairs apart by CI")
    if report.has_labels and _num(report.accuracy):
        assert report.accuracy is not None
        parts.append(
            f"accuracy {_pct(report.accuracy)}{_ci(report.accuracy_ci)} on {report.n_labels} labels"
        )
        if _num(report.kappa):
            assert report.kappa is not None
            low_high = report.kappa_ci
            ci = (
                f" [{low_high[0]:.2f}–{low_high[1]:.2f}]"
                if low_high and all(_num(x) for x in low_high)
                else ""
            )
            parts.append(f"κ {report.kappa:.2f}{ci}")
        if _num(report.p_chance):
            assert report.p_chance is not None
            parts.append(f"p vs chance {_p(report.p_chance)}")
        baselines = [
            (name, getattr(report, f"always_{name}_accuracy"))
            for name in ("longer", "first", "second")
        ]
        shown = [f"{name} {_pct(v)}" for name, v in baselines if _num(v)]
        if shown:
            parts.append("always " + " / ".join(shown))
    return "Trust: " + " · ".join(parts)


def print_trust(report: TrustReport | None, *, out: Console, err: Console) -> None:
    """The trust line on ``out`` and each warning as a yellow block on ``err``."""
    if report is None:
        return
    out.print(trust_line(report), soft_wrap=True)
    for message in report.warnings:
        err.print(
            Panel(
                Text(message),
                title="judge trust warning",
                title_align="left",
                border_style="yellow",
            )
        )


@contextmanager
def quiet_trust_warnings() -> Iterator[None]:
    """Silence :class:`JudgeTrustWarning` inside: the CLI shows them as blocks instead."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", JudgeTrustWarning)
        yield
