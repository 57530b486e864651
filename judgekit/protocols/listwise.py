"""The listwise protocol: the judge ranks K candidates for one prompt in one call.

Candidates are fenced and labelled ``[1]`` .. ``[K]``. Two verdict modes:

- ``logprobs``: the assistant prefix is ``Ranking: [``, so the next token is the label of
  the best candidate; one forward pass gives the first-choice probabilities of all K labels
  (``JudgeRequest(choices=("1", .., "K"), max_tokens=1)``). They are stored, and the full
  ranking is read off them (:func:`~judgekit.protocols.listwise_parse.ranking_from_probs`:
  under Plackett-Luce, first-choice probabilities are proportional to strengths and the
  modal ranking sorts by them). Single-token labels limit this mode to K <= 9.
- ``generate``: the judge writes a short rationale and then a full ranking such as
  ``[2] > [1] > [3]``, which :mod:`judgekit.protocols.listwise_parse` reads.

Position bias (judges favour the first slot) is corrected by permutation: every list is
shown in several orders, either evenly spaced cyclic shifts (with K shifts every candidate
takes every slot once, a Latin square) or seeded random permutations. Each ranking is
un-permuted into candidate terms before anything is aggregated (Plackett-Luce), so a judge
that always puts slot 1 first ranks every candidate first equally often and cancels out.

Prompts answered by more than K models are split into overlapping blocks of K, in the
manner of JointRank ("JointRank: Rank Large Set with Single Pass", 2025): each block
is ranked on its own and the shared members tie the blocks together.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from judgekit.errors import ConfigError
from judgekit.inputs.templates import PromptTemplate, load_template
from judgekit.protocols.fencing import fence
from judgekit.protocols.listwise_parse import ListwiseVerdict
from judgekit.protocols.pairwise import DEFAULT_CRITERIA
from judgekit.types import Candidate, Item, JudgeRequest, Message, Outcome

VerdictMode = Literal["logprobs", "generate"]
Scheme = Literal["cyclic", "random"]
Permutation = tuple[int, ...]
"""``order[slot]`` is the index (in the list's canonical order) of the candidate shown in
that slot; slot 0 is labelled ``[1]``."""

TEMPLATE_VARIABLES = frozenset(
    {"k", "criteria", "reference_section", "question", "responses", "output_format"}
)
LOGPROB_PREFIX = "Ranking: ["
MAX_LOGPROB_K = 9
MAX_K = 20
GENERATE_MAX_TOKENS = 400


def _example(k: int) -> str:
    # A rotation, so the example does not teach "[1] first"; permutations cancel the rest.
    return " > ".join(f"[{(i + 1) % k + 1}]" for i in range(k))


def output_format(mode: VerdictMode, k: int) -> str:
    """The answer instructions for ``k`` candidates."""
    if mode == "logprobs":
        return (
            f"Reply with the ranking only: the labels of all {k} responses in brackets, best "
            f"first, separated by ' > ', for example {_example(k)}."
        )
    return (
        "First compare the responses in two or three sentences. Then give your final ranking "
        f"on the last line, strictly in this format, best first: Ranking: {_example(k)}"
    )


@dataclass(frozen=True)
class ListwiseSpec:
    """How listwise requests are rendered."""

    mode: VerdictMode = "logprobs"
    criteria: str = DEFAULT_CRITERIA
    template: str = "listwise"


def load_listwise_template(name: str) -> PromptTemplate:
    return load_template(name, allowed=TEMPLATE_VARIABLES)


def check_k(k: int, *, mode: VerdictMode) -> None:
    """Raise ConfigError when ``k`` candidates cannot be ranked in ``mode``."""
    if k < 2:
        raise ConfigError(f"listwise judging needs k >= 2, got {k}")
    if mode == "logprobs" and k > MAX_LOGPROB_K:
        raise ConfigError(
            f"k={k} is too large for logprob verdicts (labels 1..{MAX_LOGPROB_K} are single "
            "tokens; 10 starts like 1); use k <= 9 or verdict='generate'"
        )
    if k > MAX_K:
        raise ConfigError(f"k={k} is larger than {MAX_K}; rank in blocks instead")


def render_listwise(
    item: Item, shown: Sequence[Candidate], *, spec: ListwiseSpec, template: PromptTemplate
) -> JudgeRequest:
    """The request that shows ``shown[0]`` as ``[1]``, ``shown[1]`` as ``[2]`` and so on."""
    k = len(shown)
    check_k(k, mode=spec.mode)
    reference = ""
    if item.reference:
        reference = "\n[Reference answer]\n" + fence(item.reference, label="REFERENCE") + "\n"
    blocks = [
        f"[{slot + 1}]\n" + fence(cand.output, label=f"RESPONSE {slot + 1}")
        for slot, cand in enumerate(shown)
    ]
    text = template.render(
        k=str(k),
        criteria=spec.criteria,
        reference_section=reference,
        question=fence(item.prompt, label="QUESTION"),
        responses="\n\n".join(blocks),
        output_format=output_format(spec.mode, k),
    )
    messages = (Message(role="user", content=text),)
    if spec.mode == "logprobs":
        return JudgeRequest(
            messages=messages,
            choices=tuple(str(i + 1) for i in range(k)),
            assistant_prefix=LOGPROB_PREFIX,
            max_tokens=1,
        )
    return JudgeRequest(messages=messages, max_tokens=GENERATE_MAX_TOKENS)


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("\x00".join(str(p) for p in parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def permutations(
    k: int, n: int, *, scheme: Scheme = "cyclic", seed: int = 0, key: str = ""
) -> list[Permutation]:
    """``n`` orders in which to show ``k`` candidates.

    Args:
        k: list length.
        n: number of orders (judge calls per list).
        scheme: ``"cyclic"``: shifts ``j·k // n`` for ``j < n``, evenly spaced, so that with
            ``n = k`` every candidate takes every slot exactly once; ``"random"``: distinct
            seeded random permutations (the first one is random too).
        seed: seed of the random scheme.
        key: names the list (e.g. prompt id and block), so each list gets its own draws.

    Raises:
        ConfigError: ``n < 1``, or more orders than the scheme has.
    """
    if n < 1:
        raise ConfigError(f"permutations must be >= 1, got {n}")
    if scheme == "cyclic":
        if n > k:
            raise ConfigError(f"{n} cyclic shifts of {k} candidates do not exist; use n <= {k}")
        shifts = [(j * k) // n for j in range(n)]
        return [tuple((slot + s) % k for slot in range(k)) for s in shifts]
    if scheme != "random":
        raise ConfigError(f"unknown permutation scheme {scheme!r}; use cyclic or random")
    total = math.factorial(k)
    if n > total:
        raise ConfigError(f"{k} candidates have only {total} orders, not {n}")
    rng = _rng(seed, key, k)
    out: list[Permutation] = []
    while len(out) < n:
        order = list(range(k))
        rng.shuffle(order)
        if tuple(order) not in out:
            out.append(tuple(order))
    return out


def orders_per_list(k: int, n: int, *, scheme: Scheme) -> int:
    """How many orders a list of ``k`` gets when ``n`` are asked for: at most ``k`` cyclic
    shifts, at most ``k!`` random permutations."""
    return min(n, k) if scheme == "cyclic" else min(n, math.factorial(k))


def unpermute(
    verdict: ListwiseVerdict, order: Permutation
) -> tuple[tuple[int, ...], tuple[float, ...] | None]:
    """A verdict's ranking and first-choice probabilities in candidate (canonical) terms."""
    ranking = tuple(order[slot] for slot in verdict.ranking)
    probs = None
    if verdict.first_probs is not None:
        by_candidate = [0.0] * len(order)
        for slot, p in enumerate(verdict.first_probs):
            by_candidate[order[slot]] = p
        probs = tuple(by_candidate)
    return ranking, probs


@dataclass(frozen=True)
class CandidateList:
    """Up to K models whose answers to one prompt are ranked together (canonical order)."""

    prompt_id: str
    list_index: int
    models: tuple[str, ...]


def plan_lists(
    models_by_prompt: Mapping[str, Sequence[str]], *, k: int, seed: int = 0
) -> list[CandidateList]:
    """Split each prompt's models into lists of at most ``k``.

    A prompt with at most ``k`` models gives one list. A larger one is shuffled (seeded per
    prompt) and cut into windows of ``k`` that advance by ``k - 1`` and wrap around, so that
    consecutive blocks share a model and the blocks of a prompt form one connected chain;
    different prompts get different shuffles, which mixes every pair over a prompt set.
    """
    if k < 2:
        raise ConfigError(f"k must be >= 2, got {k}")
    lists: list[CandidateList] = []
    for prompt_id, models in sorted(models_by_prompt.items()):
        ordered = sorted(set(models))
        if len(ordered) < 2:
            continue
        if len(ordered) <= k:
            lists.append(CandidateList(prompt_id, 0, tuple(ordered)))
            continue
        _rng(seed, prompt_id).shuffle(ordered)
        n = len(ordered)
        blocks = -(-(n - 1) // (k - 1))  # ceil((n - 1) / (k - 1)) windows cover a cycle
        for b in range(blocks):
            members = [ordered[(b * (k - 1) + i) % n] for i in range(k)]
            lists.append(CandidateList(prompt_id, b, tuple(sorted(set(members)))))
    return lists


@dataclass(frozen=True)
class ListwiseCall:
    """One judge call of a list: which order it shows and the rendered request."""

    candidates: CandidateList
    permutation_index: int
    order: Permutation
    request: JudgeRequest

    @property
    def shown(self) -> tuple[str, ...]:
        """Model names by slot."""
        return tuple(self.candidates.models[i] for i in self.order)


def plan_listwise_requests(
    lists: Sequence[CandidateList],
    *,
    items: Mapping[str, Item],
    candidates: Mapping[str, Mapping[str, Candidate]],
    spec: ListwiseSpec,
    permutations_per_list: int,
    scheme: Scheme = "cyclic",
    seed: int = 0,
) -> list[ListwiseCall]:
    """Render every list in each of its orders."""
    template = load_listwise_template(spec.template)
    calls: list[ListwiseCall] = []
    for cl in lists:
        k = len(cl.models)
        n = orders_per_list(k, permutations_per_list, scheme=scheme)
        orders = permutations(k, n, scheme=scheme, seed=seed, key=f"{cl.prompt_id}/{cl.list_index}")
        item = items[cl.prompt_id]
        for index, order in enumerate(orders):
            shown = [candidates[cl.prompt_id][cl.models[i]] for i in order]
            request = render_listwise(item, shown, spec=spec, template=template)
            calls.append(ListwiseCall(cl, index, order, request))
    return calls


def combine_permutations(
    prompt_id: str, lists: Sequence[Sequence[str]], rankings: Sequence[Sequence[str]]
) -> list[Outcome]:
    """Pairwise outcomes implied by one prompt's un-permuted rankings (model names, best first).

    Every pair of models that shared a list gets one outcome: ``win_a`` is the share of the
    rankings holding both that put ``model_a`` above ``model_b`` (JointRank's implicit
    pairwise comparisons, pooled over orders and overlapping blocks). A pair *flips* when the
    rankings disagree about it, the listwise analogue of a pairwise verdict that changes with
    the order. A pair that no usable ranking holds gets ``status="parse_error"``.
    """
    pairs = sorted(
        {tuple(sorted(p)) for members in lists for p in itertools.combinations(members, 2)}
    )
    positions = [{m: x for x, m in enumerate(r)} for r in rankings]
    outcomes = []
    for a, b in pairs:
        above = [pos[a] < pos[b] for pos in positions if a in pos and b in pos]
        if not above:
            outcomes.append(Outcome(prompt_id, a, b, 0.0, 0.0, 0.0, False, "parse_error"))
            continue
        win_a = sum(above) / len(above)
        outcomes.append(Outcome(prompt_id, a, b, win_a, 1.0 - win_a, 0.0, flipped=0 < win_a < 1))
    return outcomes
