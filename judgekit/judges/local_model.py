"""What an in-process model can take: its context length, KV-cache bytes per token, the
cores to run on, and whether a generation request fits. Shared by the hf and vLLM judges.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any

from judgekit.errors import MissingDependencyError
from judgekit.types import JudgeRequest


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


def check_importable() -> None:
    """Raise the install hint now if torch or transformers is missing, without importing."""
    for module in ("torch", "transformers"):
        try:
            missing = sys.modules.get(module, False) is None or not importlib.util.find_spec(module)
        except (ImportError, ValueError):  # an import hook that hides the module, say
            missing = True
        if missing:
            raise MissingDependencyError("The hf judge", extra="local", module="transformers")


def kv_bytes_per_token(config: Any) -> int:
    """Bytes of float32 keys and values one token occupies in the KV cache."""
    layers = int(getattr(config, "num_hidden_layers", 32))
    heads = int(getattr(config, "num_attention_heads", 32))
    kv_heads = int(getattr(config, "num_key_value_heads", None) or heads)
    dim = int(getattr(config, "head_dim", None) or config.hidden_size // heads)
    return 2 * layers * kv_heads * dim * 4


def first_int(*values: Any) -> int:
    return next(int(v) for v in values if isinstance(v, int))


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS and Windows have no sched_getaffinity
        return max(1, os.cpu_count() or 1)


def context_length(config: Any, tokenizer: Any) -> int:
    """The longest sequence the model supports (prompt plus generated tokens)."""
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    # Tokenizers without a limit report a huge sentinel (1e30); only trust sane values.
    value = getattr(tokenizer, "model_max_length", 0)
    return value if isinstance(value, int) and 0 < value < 10**7 else 2048
