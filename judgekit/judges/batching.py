"""Batch formation for in-process judges: length-sorted batches under a token budget.

A forward pass costs ``rows x longest row`` tokens, so a batch of mixed lengths pays for
padding. Sorting the whole plan by length and cutting it where the padded size would exceed
a token budget keeps padding small and batches as large as memory allows; fixed counts in
plan order (the old scheme) put long and short prompts side by side.

Prefix sharing: the calls of one prompt start with the same tokens (chat header, judge
instructions, the question). :func:`prefix_groups` finds groups of sequences that share a
prefix, so that a backend computes the prefix once and reuses its KV cache for every member.

Everything here is pure Python over token counts and token ids; the backends own the tensors.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from judgekit.types import JudgeRequest, JudgeResponse

DEFAULT_MAX_BATCH_TOKENS = 4096
"""Padded tokens per forward pass of the hf backend unless ``--max-batch-tokens`` says otherwise.

On a CPU the forward's throughput stops growing well below this size (the matmuls are
already large enough to keep the cores busy), and the activations of 4096 tokens of a
small model fit in a few hundred MB."""

STREAM_WINDOW = 4096
"""Requests handed to a streaming judge at once: enough to sort by length across a whole
plan of ordinary size, few enough that the tokenised prompts stay small in memory."""

MIN_SHARED_PREFIX = 16
"""Shorter common prefixes are not worth a separate prefix pass and the cache copies."""


@dataclass(frozen=True)
class PaddingReport:
    """Token accounting of a batch plan: real tokens, padded forward tokens, padding share."""

    real: int
    forward: int

    @property
    def padding(self) -> int:
        return self.forward - self.real

    @property
    def padding_share(self) -> float:
        return self.padding / self.forward if self.forward else 0.0


BATCH_OVERHEAD_TOKENS = 64
"""What one more forward pass costs, in token positions: the fixed Python and kernel-launch
work per pass. Cutting a batch in two is worth it when it saves more padding than this."""


def budget_batches(
    lengths: Sequence[int],
    *,
    max_tokens: int,
    max_rows: int | None = None,
    padded: bool = True,
    overhead: int = BATCH_OVERHEAD_TOKENS,
) -> list[list[int]]:
    """Indices of ``lengths`` sorted longest first and cut into batches under a token budget.

    ``padded`` (a padded forward, as in the hf backend): a batch costs ``rows x its longest
    length``, must stay within ``max_tokens`` (and ``max_rows``), and the cuts minimise the
    total forward tokens plus ``overhead`` per batch (dynamic programming over the sorted
    order), so that padding stays small even on a short plan with a wide spread of lengths.
    Not ``padded`` (an engine without padding, as vLLM): batches fill up to ``max_tokens``
    summed tokens. A single sequence longer than the budget still gets a batch of its own:
    the budget bounds padding and memory, it never refuses work. Longest first, so that a
    batch too big for memory fails at the start; the sort is stable.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    n = len(order)
    rows_cap = max_rows if max_rows is not None else n
    if not padded:
        batches: list[list[int]] = []
        current: list[int] = []
        total = 0
        for i in order:
            if current and (len(current) >= rows_cap or total + lengths[i] > max_tokens):
                batches.append(current)
                current, total = [], 0
            current.append(i)
            total += lengths[i]
        return [*batches, current] if current else batches
    # cost[j]: the cheapest way to run order[j:]; cut[j]: where its first batch ends.
    # Sorted longest first, the batch order[j:k] is (k - j) rows of width lengths[order[j]].
    cost = [0] * (n + 1)
    cut = [n] * (n + 1)
    for j in range(n - 1, -1, -1):
        width = lengths[order[j]]
        best, best_k = None, j + 1
        for k in range(j + 1, min(n, j + rows_cap) + 1):
            if k > j + 1 and (k - j) * width > max_tokens:
                break
            total = (k - j) * width + overhead + cost[k]
            if best is None or total < best:
                best, best_k = total, k
        cost[j], cut[j] = best or 0, best_k
    out: list[list[int]] = []
    j = 0
    while j < n:
        out.append(order[j : cut[j]])
        j = cut[j]
    return out


def padding_report(batches: Sequence[Sequence[int]], lengths: Sequence[int]) -> PaddingReport:
    """Real and padded (forward) tokens of running ``batches`` of sequences of ``lengths``."""
    real = sum(lengths[i] for batch in batches for i in batch)
    forward = sum(len(batch) * max(lengths[i] for i in batch) for batch in batches if batch)
    return PaddingReport(real=real, forward=forward)


@dataclass(frozen=True)
class PrefixGroup:
    """Sequences (by index) whose first ``prefix_len`` tokens are the same."""

    prefix_len: int
    members: tuple[int, ...]


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    for k in range(n):
        if a[k] != b[k]:
            return k
    return n


def prefix_groups(
    seqs: Sequence[Sequence[int]],
    *,
    min_prefix: int = MIN_SHARED_PREFIX,
    max_members: int = 64,
) -> list[PrefixGroup]:
    """Partition ``seqs`` into groups that share a prefix, minimising the tokens to compute.

    Sorted lexicographically, sequences that share long prefixes sit side by side, and the
    common prefix of a contiguous run is the minimum of its neighbours' common prefixes. A
    group of ``n`` sequences with common prefix ``p`` saves ``(n - 1) * p`` tokens; dynamic
    programming over the sorted order picks the contiguous partition that saves the most
    (runs of at most ``max_members``, which bounds the work to ``len(seqs) * max_members``).

    The shared prefix always leaves each member at least one token of its own, because the
    prediction is read at the last position of the member's own (suffix) forward pass.
    Groups whose prefix is shorter than ``min_prefix`` (singletons included) get prefix 0.
    """
    n = len(seqs)
    if n == 0:
        return []
    order = sorted(range(n), key=lambda i: tuple(seqs[i]))
    # adjacent[k]: common prefix of order[k-1] and order[k], capped so that both keep a
    # token of their own.
    adjacent = [0] * n
    for k in range(1, n):
        a, b = seqs[order[k - 1]], seqs[order[k]]
        adjacent[k] = min(_common_prefix(a, b), len(a) - 1, len(b) - 1)
    # best[j]: the largest saving over order[:j]; cut[j]: where its last group starts.
    best = [0] * (n + 1)
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        best[j], cut[j] = best[j - 1], j - 1  # order[j-1] alone
        shared = None
        for i in range(j - 2, max(-1, j - 1 - max_members), -1):
            # The group order[i:j]: its common prefix is the smallest adjacent one inside.
            step = adjacent[i + 1]
            shared = step if shared is None else min(shared, step)
            if shared < min_prefix:
                break
            saving = best[i] + (j - i - 1) * shared
            if saving > best[j]:
                best[j], cut[j] = saving, i
    groups: list[PrefixGroup] = []
    j = n
    while j > 0:
        i = cut[j]
        members = tuple(order[i:j])
        shared = min(adjacent[k] for k in range(i + 1, j)) if j - i > 1 else 0
        groups.append(PrefixGroup(shared if shared >= min_prefix else 0, members))
        j = i
    groups.reverse()
    return groups


def judged_positions(
    judge: Any, requests: Sequence[JudgeRequest]
) -> Iterator[tuple[list[int], list[JudgeResponse]]]:
    """A batching judge's answers, batch by batch: ``(positions in requests, responses)``.

    The judge's ``judge_batches`` forms its batches across a window of up to
    :data:`STREAM_WINDOW` requests (by length and shared prefix) and yields each batch as
    soon as it is done, so the caller can store it before the next one runs.
    """
    for offset in range(0, len(requests), STREAM_WINDOW):
        window = list(requests[offset : offset + STREAM_WINDOW])
        for pairs in judge.judge_batches(window):
            yield [offset + i for i, _ in pairs], [response for _, response in pairs]


def judged_batches(
    judge: Any, todo: Sequence[tuple[str, JudgeRequest]]
) -> Iterator[tuple[list[tuple[str, JudgeRequest]], list[JudgeResponse]]]:
    """Hand ``todo`` to ``judge`` and yield each answered batch with its responses.

    A judge with ``judge_batches`` (the in-process backends) forms its own batches across
    the whole window, by length and shared prefix, and yields each as soon as it is done;
    the caller stores every batch before the next one runs, so an interruption loses at most
    one batch. Any other judge gets fixed chunks of ``judge.batch_size`` in plan order.
    """
    stream = getattr(judge, "judge_batches", None)
    if stream is None:
        chunk = max(1, judge.batch_size)
        for offset in range(0, len(todo), chunk):
            batch = list(todo[offset : offset + chunk])
            yield batch, _checked(judge, batch, judge.judge([r for _, r in batch]))
        return
    for offset in range(0, len(todo), STREAM_WINDOW):
        window = list(todo[offset : offset + STREAM_WINDOW])
        for pairs in stream([r for _, r in window]):
            batch = [window[i] for i, _ in pairs]
            yield batch, [response for _, response in pairs]


def _checked(
    judge: Any, batch: list[tuple[str, JudgeRequest]], responses: list[JudgeResponse]
) -> list[JudgeResponse]:
    if len(responses) != len(batch):
        raise RuntimeError(
            f"judge {judge.id} returned {len(responses)} responses for {len(batch)} requests"
        )
    return responses
