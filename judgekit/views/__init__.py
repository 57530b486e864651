"""What the dashboard shows, computed from the store: leaderboards, head-to-head matrices,
judge quality, per-prompt detail and run comparisons.

Every function reads through :mod:`judgekit.store.dashboard_queries` (or the shared
:mod:`judgekit.store.queries`) and ranks through :mod:`judgekit.rank`, so the Streamlit app
keeps only layout and widgets. The helpers that take DataFrames are pure and tested without
a store.

- :mod:`judgekit.views.boards`: leaderboards by any method and prompt category, head-to-head
  matrices, display formatting;
- :mod:`judgekit.views.quality`: judge quality;
- :mod:`judgekit.views.trust`: a run's stored trust report (warnings and figures);
- :mod:`judgekit.views.runs`: store status, runs, run comparisons, the per-prompt drill-down.
"""

from judgekit.views.boards import (
    BOARD_COLUMNS,
    METHOD_LABELS,
    PAIRWISE_METHODS,
    ROUNDS,
    SCORE_PREFIXES,
    Board,
    HeadToHead,
    display_board,
    format_ci,
    hard_outcomes,
    head_to_head,
    inert_label,
    leaderboard,
    markdown_escape,
    method_choices,
    method_family,
    method_label,
    outcome_winner,
    predicted_win_matrix,
    rank_outcomes,
    win_matrix,
    with_style_features,
)
from judgekit.views.quality import (
    JudgeQuality,
    human_agreement,
    judge_quality,
    judge_usage,
    length_bias,
    position_preference,
    wilson_interval,
)
from judgekit.views.runs import (
    PromptDetail,
    RunComparison,
    StoreStatus,
    compare_boards,
    compare_runs,
    order_table,
    outcome_table,
    prompt_detail,
    runs_table,
    store_status,
)
from judgekit.views.trust import (
    BANNER_LEAD,
    TRUST_COLUMNS,
    TrustView,
    banner_markdown,
    run_trust,
    trust_view,
)

__all__ = [
    "BANNER_LEAD",
    "BOARD_COLUMNS",
    "METHOD_LABELS",
    "PAIRWISE_METHODS",
    "ROUNDS",
    "SCORE_PREFIXES",
    "TRUST_COLUMNS",
    "Board",
    "HeadToHead",
    "JudgeQuality",
    "PromptDetail",
    "RunComparison",
    "StoreStatus",
    "TrustView",
    "banner_markdown",
    "compare_boards",
    "compare_runs",
    "display_board",
    "format_ci",
    "hard_outcomes",
    "head_to_head",
    "human_agreement",
    "inert_label",
    "judge_quality",
    "judge_usage",
    "leaderboard",
    "length_bias",
    "markdown_escape",
    "method_choices",
    "method_family",
    "method_label",
    "order_table",
    "outcome_table",
    "outcome_winner",
    "position_preference",
    "predicted_win_matrix",
    "prompt_detail",
    "rank_outcomes",
    "run_trust",
    "runs_table",
    "store_status",
    "trust_view",
    "wilson_interval",
    "win_matrix",
    "with_style_features",
]
