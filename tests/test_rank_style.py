"""Style control: markdown counts, feature sources, and recovery of substance from style."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from judgekit.errors import ConfigError, InputError
from judgekit.rank import (
    PairwiseData,
    bradley_terry,
    markdown_style,
    style_controlled_bt,
    style_features_from_frame,
)
from judgekit.rank.style_features import style_contrast

ANSWER = """# Title
Some **bold** text and __more bold__.

## Steps
1. first
2. second
- bullet
* star bullet

```python
# not a header
- not a list
**not bold**
```
"""


def test_markdown_style_counts_like_arena_hard() -> None:
    counts = markdown_style(ANSWER)
    assert counts["header_count"] == 2  # "# Title", "## Steps"; code comments excluded
    assert counts["list_count"] == 4  # two ordered, two unordered
    assert counts["bold_count"] == 2
    assert counts["length"] > 20
    assert markdown_style("") == {"length": 0, "header_count": 0, "list_count": 0, "bold_count": 0}


def test_style_contrast_is_a_ratio_and_zero_when_both_are_zero() -> None:
    out = style_contrast(np.array([[3.0, 0.0]]), np.array([[1.0, 0.0]]))
    np.testing.assert_allclose(out, [[0.5, 0.0]])


def test_features_from_text_flat_columns_and_conv_metadata_agree() -> None:
    text = pd.DataFrame(
        {
            "model_a": ["x"],
            "model_b": ["y"],
            "winner": ["tie"],
            "response_a": [ANSWER],
            "response_b": ["plain answer"],
        }
    )
    from_text, names = style_features_from_frame(text)
    sa, sb = markdown_style(ANSWER), markdown_style("plain answer")
    flat = pd.DataFrame(
        {f"{k}_a": [v] for k, v in sa.items()} | {f"{k}_b": [v] for k, v in sb.items()}
    )
    meta = {
        "sum_assistant_a_tokens": sa["length"],
        "sum_assistant_b_tokens": sb["length"],
        "header_count_a": {"h1": 1, "h2": 1},
        "header_count_b": {"h1": 0},
        "list_count_a": {"ordered": 2, "unordered": 2},
        "list_count_b": {"ordered": 0},
        "bold_count_a": {"**": 1, "__": 1},
        "bold_count_b": {"**": 0},
    }
    from_flat, _ = style_features_from_frame(flat)
    from_meta, _ = style_features_from_frame(pd.DataFrame({"conv_metadata": [meta]}))
    assert names == ("length", "header_count", "list_count", "bold_count")
    np.testing.assert_allclose(from_text, from_flat)
    np.testing.assert_allclose(from_text, from_meta)
    with pytest.raises(InputError, match="style control needs"):
        style_features_from_frame(pd.DataFrame({"model_a": ["x"]}))


def test_style_control_separates_substance_from_length() -> None:
    # Models 0-3 are equally good; models 2 and 3 write twice as long and the judge likes
    # length. Plain BT crowns the verbose pair; style control finds them equal and puts the
    # length effect in its coefficient.
    rng = np.random.default_rng(0)
    n, k = 12_000, 4
    a = rng.integers(0, k, n)
    b = (a + rng.integers(1, k, n)) % k
    verbose = np.array([1.0, 1.0, 2.0, 2.0])
    len_a = verbose[a] * rng.uniform(100, 300, n)
    len_b = verbose[b] * rng.uniform(100, 300, n)
    contrast = (len_a - len_b) / (len_a + len_b)
    win = rng.random(n) < 1 / (1 + np.exp(-2.0 * contrast))
    zeros = np.zeros((n, 3))
    features = np.column_stack([contrast, zeros])
    data = PairwiseData.from_arrays(
        models=["c0", "c1", "v2", "v3"],
        a=a,
        b=b,
        win_a=win,
        win_b=~win,
        tie=np.zeros(n),
        features=features,
        feature_names=["length", "header_count", "list_count", "bold_count"],
    )
    plain = np.asarray(bradley_terry(data).rating)
    styled = style_controlled_bt(data)
    rating = np.asarray(styled.rating)
    assert plain[2:].min() - plain[:2].max() > 50
    assert np.abs(rating - 1000).max() < 15
    coefficient = styled.extras["style_coefficients"]["length"]
    se = styled.extras["style_coefficient_se"]["length"]
    assert coefficient > 10 * se > 0
    low, high = np.asarray(styled.ci_low), np.asarray(styled.ci_high)
    assert np.all(low < 1000) and np.all(high > 1000)


def test_style_bootstrap_is_seeded_and_brackets_the_estimate() -> None:
    rng = np.random.default_rng(1)
    n = 1_500
    a = rng.integers(0, 3, n)
    b = (a + rng.integers(1, 3, n)) % 3
    x = rng.normal(size=(n, 1))
    win = rng.random(n) < 1 / (1 + np.exp(-(0.5 * (a - b) + 0.8 * x[:, 0])))
    data = PairwiseData.from_arrays(
        models=["a", "b", "c"],
        a=a,
        b=b,
        win_a=win,
        win_b=~win,
        tie=np.zeros(n),
        features=x,
        feature_names=["length"],
    )
    r1 = style_controlled_bt(data, bootstrap=30, seed=5)
    r2 = style_controlled_bt(data, bootstrap=30, seed=5)
    assert r1.ci_low == r2.ci_low
    assert np.all(np.asarray(r1.ci_low) < np.asarray(r1.rating))
    assert r1.extras["ci"]["method"] == "bootstrap"


def test_style_control_needs_features() -> None:
    data = PairwiseData.from_counts(models=("a", "b"), counts=[(0, 1, 3, 2, 0)])
    with pytest.raises(ConfigError, match="style features"):
        style_controlled_bt(data)
