"""K-wise arena: rounds of listwise judging with Bayesian ratings and informative matchmaking.

After K-Sort Arena (Li et al. 2024, "K-Sort Arena: Efficient and Reliable Benchmarking for
Generative Models via K-wise Human Preferences"): each round picks a prompt and K models,
the judge ranks their answers in one listwise call, and every model's Gaussian skill
(mean μ, uncertainty σ) is updated by openskill's Plackett-Luce moment matching (Weng & Lin
2011), the same update :func:`judgekit.rank.openskill_ratings` replays.

Matchmaking trades exploration for exploitation:

- *explore*: the pivot is the eligible model with the highest σ, the one we know least;
- *exploit*: the other K - 1 seats go, greedily, to the models that add the most expected
  information about the differences within the match, ``½·log(1 + p(1 - p)·Var(Δ))``,
  which is large for close means (``p`` near ½) and high σ.

Every choice is a function of (seed, round index, state), and each round (models, prompt,
shown order, ranking, ratings after) is written to DuckDB in the same transaction as the
rest of its batch. A restarted arena loads its rounds, replays the updates without judging
and continues exactly where it stopped; its final state equals an uninterrupted run's.
"""

from __future__ import annotations

import glob
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from judgekit.errors import ConfigError
from judgekit.inputs.outputs import OutputSet, prompt_id_for
from judgekit.inputs.tabular import read_rows
from judgekit.judges.base import JudgeOptions

FloatArray = NDArray[np.float64]

# openskill's defaults, the same as judgekit.rank.openskill_ratings uses, so that replaying the
# stored rankings through it reproduces the arena's state.
MU = 25.0
SIGMA = 25.0 / 3.0
BETA = 25.0 / 6.0


class ArenaConfig(BaseModel):
    """An arena definition (``arenas/NAME.yaml``). Paths are relative to the YAML file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None
    """Arena name (default: the YAML file's stem); it names the run in the store."""
    candidates: list[str] = Field(min_length=1)
    """Model output files or glob patterns (JSONL, CSV, Parquet, AlpacaEval JSON)."""
    prompts: str | None = None
    """Optional prompt set (a file with ``prompt_id`` or ``prompt``): rounds use only these."""
    judge: str = "hf/smollm2"
    """Judge id."""
    judge_options: JudgeOptions = Field(default_factory=JudgeOptions)
    """Backend options (base_url, batch_size, ...)."""
    k: int = Field(default=4, ge=2, le=20)
    """Models per round."""
    budget: int = Field(default=100, ge=1)
    """Rounds (listwise judge calls) in all, resumed rounds included."""
    seed: int = 0
    """Seed of matchmaking, prompts and shown orders."""
    sigma_threshold: float = Field(default=1.0, gt=0)
    """Stop early once every model's σ is below this (openskill scale; prior σ is 8.33)."""
    verdict: Literal["auto", "logprobs", "generate"] = "auto"
    """``logprobs``: first-choice probabilities in one forward pass; ``generate``: parse a
    written ranking; ``auto``: logprobs when the judge has them."""
    criteria: str | None = None
    """Judging criteria in the listwise prompt (default: general helpfulness)."""
    template: str = "listwise"
    """Listwise prompt template name (rubrics/templates/NAME.md) or path."""
    batch: int = Field(default=1, ge=1)
    """Rounds chosen together and judged in one batch (1 is the most sample-efficient)."""
    bootstrap: int = Field(default=100, ge=0)
    """Bootstrap rounds for the Plackett-Luce leaderboard's 95 % CIs (0 = none)."""

    _source: Path | None = PrivateAttr(default=None)
    _lines: dict[str, int] = PrivateAttr(default_factory=dict)

    @property
    def source(self) -> Path | None:
        """The YAML file this config was loaded from, if any."""
        return self._source

    def where(self, key: str) -> str:
        """``FILE:LINE: key`` for an error about ``key`` (as much of it as is known), so
        that a bad value found after loading still points at the line to fix."""
        if self._source is None:
            return key
        line = self._lines.get(key)
        return f"{self._source}:{line}: {key}" if line else f"{self._source}: {key}"

    @property
    def base_dir(self) -> Path:
        return self._source.parent if self._source is not None else Path.cwd()

    @property
    def arena_name(self) -> str:
        if self.name:
            return self.name
        return self._source.stem if self._source is not None else "arena"

    def candidate_files(self) -> list[Path]:
        """The output files the ``candidates`` patterns match, sorted.

        Raises:
            ConfigError: a pattern matches no file (naming the YAML file and key).
        """
        files: list[Path] = []
        for pattern in self.candidates:
            full = pattern if Path(pattern).is_absolute() else str(self.base_dir / pattern)
            matches = sorted(Path(p) for p in glob.glob(full))
            if not matches:
                raise ConfigError(
                    f"{self.where('candidates')}: no file matches {pattern!r} "
                    f"(relative paths start at {self.base_dir})"
                )
            files.extend(m for m in matches if m not in files)
        return files

    def prompt_file(self) -> Path | None:
        if self.prompts is None:
            return None
        path = Path(self.prompts)
        return path if path.is_absolute() else self.base_dir / path

    def identity(self) -> dict[str, Any]:
        """What defines the arena's rounds; budget and the stopping threshold only say how
        long to run, so raising the budget continues the same arena."""
        return self.model_dump(
            exclude={"budget", "sigma_threshold", "judge_options", "name", "bootstrap"}
        )


def _key_lines(text: str, *, source: Path | None = None) -> dict[str, int]:
    """Line of each top-level key. With ``source``, a key given twice is a ConfigError:
    YAML would silently keep the last value, and the user meant one of them."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return {}
    if not isinstance(node, yaml.MappingNode):
        return {}
    lines: dict[str, int] = {}
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode):
            continue
        line = key.start_mark.line + 1
        if key.value in lines and source is not None:
            raise ConfigError(
                f"{source}:{line}: {key.value}: key given twice (first at line {lines[key.value]})"
            )
        lines.setdefault(key.value, line)
    return lines


def load_arena(path: str | Path) -> ArenaConfig:
    """Load and validate an arena YAML file.

    Raises:
        ConfigError: the file is missing or is not YAML, or a key is unknown or invalid; the
            message names the file, line and key.
    """
    source = Path(path)
    if not source.is_file():
        raise ConfigError(f"arena file not found: {source}")
    try:
        text = source.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{source}: not UTF-8 text (byte {exc.start}); save the arena file as UTF-8"
        ) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else str(source)
        raise ConfigError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: an arena file must be a mapping of keys to values")
    lines = _key_lines(text, source=source)
    try:
        config = ArenaConfig.model_validate(raw)
    except ValidationError as exc:
        messages = []
        for error in exc.errors():
            loc = ".".join(str(p) for p in error["loc"]) or "(top level)"
            top = str(error["loc"][0]) if error["loc"] else ""
            line = f":{lines[top]}" if top in lines else ""
            msg = "required key is missing" if error["type"] == "missing" else error["msg"]
            messages.append(f"{source}{line}: {loc}: {msg}")
        raise ConfigError("\n".join(messages)) from None
    config._source = source.resolve()
    config._lines = lines
    return config


# -- state and matchmaking --------------------------------------------------------------------


@dataclass
class ArenaState:
    """Ratings and counters after some rounds; rebuilt exactly by replaying stored rounds."""

    models: tuple[str, ...]
    mu: FloatArray
    sigma: FloatArray
    rounds: int = 0
    failed: int = 0
    rankings: list[tuple[int, ...]] = field(default_factory=list)
    prompt_use: dict[str, int] = field(default_factory=dict)
    appearances: FloatArray = field(default_factory=lambda: np.zeros(0))
    _players: list[Any] = field(default_factory=list, repr=False)
    _model: Any = field(default=None, repr=False)

    @classmethod
    def fresh(cls, models: Sequence[str]) -> ArenaState:
        from openskill.models import PlackettLuce

        model = PlackettLuce(mu=MU, sigma=SIGMA, beta=BETA, tau=0.0)
        n = len(models)
        return cls(
            models=tuple(models),
            mu=np.full(n, MU),
            sigma=np.full(n, SIGMA),
            appearances=np.zeros(n),
            _players=[model.rating() for _ in range(n)],
            _model=model,
        )

    def apply(self, ranking: Sequence[int] | None, *, prompt_id: str) -> None:
        """Count a round and, when it produced a ranking (indices best first), update."""
        self.rounds += 1
        self.prompt_use[prompt_id] = self.prompt_use.get(prompt_id, 0) + 1
        if ranking is None:
            self.failed += 1
            return
        teams = [[self._players[m]] for m in ranking]
        updated = self._model.rate(teams, ranks=list(range(1, len(ranking) + 1)))
        for m, team in zip(ranking, updated, strict=True):
            self._players[m] = team[0]
            self.mu[m] = team[0].mu
            self.sigma[m] = team[0].sigma
        self.appearances[list(ranking)] += 1
        self.rankings.append(tuple(ranking))


def round_rng(seed: int, round_index: int) -> np.random.Generator:
    """The generator of one round: a function of (seed, round index) only."""
    return np.random.default_rng([seed, round_index])


def _gain(mu: FloatArray, sigma: FloatArray, i: int, others: Sequence[int]) -> FloatArray:
    """Expected information of comparing model ``i`` with each of ``others``."""
    o = np.asarray(others, dtype=np.int64)
    var = sigma[i] ** 2 + sigma[o] ** 2
    c = np.sqrt(2 * BETA**2 + var)
    d = (mu[i] - mu[o]) / c
    pq = 1.0 / (np.exp(d / 2) + np.exp(-d / 2)) ** 2
    # In units of a settled pair's logistic scale, β√2: the same scale as the Elo mapping.
    return 0.5 * np.log1p(pq * var / (2 * BETA**2))


def choose_match(
    mu: FloatArray,
    sigma: FloatArray,
    *,
    eligible: Sequence[int],
    k: int,
    rng: np.random.Generator,
) -> tuple[int, ...]:
    """Pick up to ``k`` of the ``eligible`` models: the highest-σ pivot first, then greedily
    the models that add the most expected information to the match."""
    pool = list(eligible)
    # Exact ties (all σ equal at the start) break at random; real differences always win.
    jitter = 1.0 + 1e-9 * rng.random(len(mu))
    pivot = max(pool, key=lambda m: sigma[m] * jitter[m])
    chosen = [pivot]
    rest = [m for m in pool if m != pivot]
    while rest and len(chosen) < k:
        scores = sum(_gain(mu, sigma, c, rest) for c in chosen) * jitter[rest]
        pick = rest[int(np.argmax(scores))]
        chosen.append(pick)
        rest.remove(pick)
    return tuple(chosen)


def shrink_sigma(mu: FloatArray, sigma: FloatArray, match: Sequence[int]) -> None:
    """Approximate, in place, how a match will narrow its models' σ, so that the next match
    of the same batch goes elsewhere (the outcome is not known yet, only its information)."""
    for m in match:
        others = [o for o in match if o != m]
        d = (mu[m] - mu[others]) / np.sqrt(2 * BETA**2 + sigma[m] ** 2 + sigma[others] ** 2)
        info = float(np.sum(1.0 / (np.exp(d / 2) + np.exp(-d / 2)) ** 2)) / (2 * BETA**2)
        sigma[m] = math.sqrt(1.0 / (1.0 / sigma[m] ** 2 + info))


@dataclass(frozen=True)
class PlannedRound:
    """One round's choices: prompt, models (pivot first) and the order they are shown in."""

    index: int
    prompt_id: str
    models: tuple[int, ...]
    order: tuple[int, ...]
    """``order[slot]`` indexes ``models``: the model shown as ``[slot + 1]``."""

    @property
    def shown(self) -> tuple[int, ...]:
        return tuple(self.models[i] for i in self.order)


def plan_rounds(
    state: ArenaState,
    *,
    prompts: dict[str, list[int]],
    k: int,
    seed: int,
    count: int,
) -> list[PlannedRound]:
    """Choose the next ``count`` rounds from ``state`` (which is not modified).

    Each round takes the least-used prompt (seeded tie-break), matches up to ``k`` of the
    models that answered it, and shows them in a seeded random order, so that position bias
    averages out over rounds.
    """
    mu = state.mu.copy()
    sigma = state.sigma.copy()
    use = dict(state.prompt_use)
    ids = sorted(pid for pid in prompts if len(prompts[pid]) >= 2)
    planned = []
    for offset in range(count):
        index = state.rounds + offset
        rng = round_rng(seed, index)
        tiebreak = rng.permutation(len(ids))
        pick = min(range(len(ids)), key=lambda x: (use.get(ids[x], 0), int(tiebreak[x])))
        prompt_id = ids[pick]
        match = choose_match(mu, sigma, eligible=prompts[prompt_id], k=k, rng=rng)
        order = tuple(int(x) for x in rng.permutation(len(match)))
        planned.append(PlannedRound(index, prompt_id, match, order))
        use[prompt_id] = use.get(prompt_id, 0) + 1
        shrink_sigma(mu, sigma, match)
    return planned


def run_id_for(config: ArenaConfig, *, inputs_digest: str, judge_id: str, mode: str) -> str:
    """The arena's run id: its name plus a hash of what defines its rounds."""
    payload = json.dumps(
        {"arena": config.identity(), "inputs": inputs_digest, "judge": judge_id, "mode": mode},
        sort_keys=True,
        default=str,
    )
    slug = "".join(c if c.isalnum() or c in "-_" else "-" for c in config.arena_name)
    return f"arena-{slug}-{hashlib.sha256(payload.encode()).hexdigest()[:10]}"


# -- resume and progress ------------------------------------------------------------------------


def restrict_to_prompt_set(data: OutputSet, config: ArenaConfig) -> OutputSet:
    """Keep only the prompts of the arena's prompt set, when it names one."""
    path = config.prompt_file()
    if path is None:
        return data
    wanted: set[str] = set()
    for _, row in read_rows(path):
        pid = row.get("prompt_id") or row.get("question_id") or row.get("id")
        text = row.get("prompt") or row.get("instruction")
        if pid is None and text is None:
            raise ConfigError(f"{path}: each prompt needs a prompt_id or a prompt")
        wanted.add(str(pid) if pid is not None else prompt_id_for(str(text)))
    items = {pid: item for pid, item in data.items.items() if pid in wanted}
    if not items:
        raise ConfigError(f"{path}: none of these prompts was answered by two candidates")
    return OutputSet(
        items=items,
        candidates=[c for c in data.candidates if c.prompt_id in items],
        skipped_prompts=data.skipped_prompts,
        sources=[*data.sources, str(path)],
    )


def describe_state(state: ArenaState) -> str:
    """One line for live progress: the leader and the largest σ (the bar counts rounds)."""
    best = int(state.mu.argmax())
    return f"leader {state.models[best]} (μ {state.mu[best]:.1f}) · max σ {state.sigma.max():.2f}"
