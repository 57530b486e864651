"""Which ratings a set of comparisons identifies: strong connectivity of the "beat" graph."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from judgekit.rank.counts import PairCounts

IntArray = NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class Identifiability:
    """Which ratings the data pins down (Zermelo 1929; Ford 1957).

    The Bradley-Terry MLE exists iff the directed graph "i beat or tied j" is strongly
    connected. Otherwise some ratings run off to ±infinity and only a regularised fit is
    finite. Models outside the largest strongly connected group, and models with fewer than two
    comparisons, are flagged with a reason.
    """

    strongly_connected: bool
    identifiable: tuple[bool, ...]
    reasons: dict[int, str] = field(default_factory=dict)
    n_components: int = 1


def identifiability(counts: PairCounts) -> Identifiability:
    """Find the models whose ratings the comparisons identify (see :class:`Identifiability`)."""
    w, lo, t = counts.stats[:, 0], counts.stats[:, 1], counts.stats[:, 2]
    # An edge x -> y means "x scored against y": a win or a tie (a tie links both ways).
    src = np.concatenate([counts.i[(w + t) > 0], counts.j[(lo + t) > 0]])
    dst = np.concatenate([counts.j[(w + t) > 0], counts.i[(lo + t) > 0]])
    return graph_identifiability(
        counts.n_models, src=src, dst=dst, rows_per_model=counts.rows_per_model
    )


def graph_identifiability(
    n: int, *, src: IntArray, dst: IntArray, rows_per_model: IntArray
) -> Identifiability:
    """Identifiability from the directed graph "src beat or tied dst" (see above)."""
    graph = sparse.csr_matrix((np.ones(src.shape[0]), (src, dst)), shape=(n, n))
    n_comp, labels = connected_components(graph, directed=True, connection="strong")
    # The main group: the largest strongly connected component.
    main = int(np.argmax(np.bincount(labels, minlength=n_comp)))
    _, weak = connected_components(graph, directed=True, connection="weak")
    main_weak = weak[labels == main][0]
    scored = np.bincount(src, minlength=n)  # the model won or tied something
    conceded = np.bincount(dst, minlength=n)
    reasons: dict[int, str] = {}
    for k in range(n):
        rows = int(rows_per_model[k])
        if rows == 0:
            reasons[k] = "no comparisons"
        elif rows == 1:
            reasons[k] = "only one comparison"
        elif labels[k] == main:
            continue
        elif weak[k] != main_weak:
            reasons[k] = "not connected to the main comparison graph"
        elif conceded[k] == 0:
            reasons[k] = "never lost or tied (rating unbounded above)"
        elif scored[k] == 0:
            reasons[k] = "never won or tied (rating unbounded below)"
        else:
            reasons[k] = "not strongly connected to the main group"
    return Identifiability(
        strongly_connected=bool(n_comp == 1),
        identifiable=tuple(k not in reasons for k in range(n)),
        reasons=reasons,
        n_components=int(n_comp),
    )
