"""The vLLM judge's errors and engine defaults, checked without vllm (default suite, fast).

Every test here fails before vllm would be imported, or hides vllm on purpose, so the file
runs the same in the dev environment (no vllm) and in ``.venv-vllm``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from judgekit.errors import ConfigError, MissingDependencyError
from judgekit.judges import get_judge
from judgekit.judges.base import JudgeOptions
from judgekit.judges.vllm import CPU_KV_CACHE_BYTES, VLLMEngineOptions, VLLMJudge


def test_missing_vllm_gives_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes `import vllm` raise ImportError, installed or not.
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'judgekit\[vllm\]'") as info:
        get_judge("vllm/smollm2")
    assert info.value.extra == "vllm"
    assert "'vllm' package" in str(info.value)


def test_missing_model_path_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(ConfigError, match="does not exist") as info:
        VLLMJudge(str(missing))
    assert str(missing) in str(info.value)
    # Through the registry too: "vllm/" + an absolute path.
    with pytest.raises(ConfigError, match="does not exist"):
        get_judge(f"vllm/{missing}")


def test_a_folder_without_config_or_a_non_gguf_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no config.json"):
        VLLMJudge(str(tmp_path))
    weights = tmp_path / "model.bin"
    weights.write_bytes(b"\0")
    with pytest.raises(ConfigError, match="not a .gguf"):
        VLLMJudge("ignored-name", options=JudgeOptions(model_path=str(weights)))


def test_relative_paths_are_not_taken_for_hub_ids(tmp_path: Path) -> None:
    # "./x/y" and "a/b/c" name folders; only "owner/name" may be looked up in the HF cache.
    for name in ("./models/judge", "models/judges/judge", "~/judge"):
        with pytest.raises(ConfigError, match="does not exist"):
            VLLMJudge(name)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("tensor_parallel_size", 0, "tensor_parallel_size"),
        ("gpu_memory_utilization", 1.5, "gpu_memory_utilization"),
        ("gpu_memory_utilization", 0.0, "gpu_memory_utilization"),
        ("max_model_len", 1, "max_model_len"),
        ("kv_cache_memory_bytes", 0, "kv_cache_memory_bytes"),
    ],
)
def test_engine_options_are_validated(field: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        VLLMEngineOptions(**{field: value})  # type: ignore[arg-type]


def test_cpu_defaults_avoid_the_known_traps() -> None:
    kwargs = VLLMEngineOptions().engine_kwargs(on_cpu=True, environ={})
    assert kwargs["dtype"] == "float32"  # bf16 is ~4x slower without AVX512-BF16
    assert kwargs["enforce_eager"] is True  # torch.compile: ~2 min per start, never cached
    assert kwargs["kv_cache_memory_bytes"] == CPU_KV_CACHE_BYTES  # NUMA meminfo check
    assert kwargs["enable_prefix_caching"] is True
    assert kwargs["disable_log_stats"] is False  # prefix-cache counters live in the stats
    assert kwargs["generation_config"] == "vllm"  # plain temperature sampling, as hf
    assert "max_model_len" not in kwargs and "gpu_memory_utilization" not in kwargs


def test_cpu_kv_cache_defers_to_the_environment_and_to_explicit_sizing() -> None:
    from_env = VLLMEngineOptions().engine_kwargs(
        on_cpu=True, environ={"VLLM_CPU_KVCACHE_SPACE": "4"}
    )
    assert "kv_cache_memory_bytes" not in from_env
    by_share = VLLMEngineOptions(gpu_memory_utilization=0.5).engine_kwargs(on_cpu=True, environ={})
    assert by_share["gpu_memory_utilization"] == 0.5 and "kv_cache_memory_bytes" not in by_share


def test_gpu_defaults_are_vllms_and_options_pass_through() -> None:
    assert VLLMEngineOptions().engine_kwargs(on_cpu=False, environ={}) == {
        "dtype": "auto",
        "tensor_parallel_size": 1,
        "enforce_eager": False,
        "enable_prefix_caching": True,
        "seed": 0,
        "disable_log_stats": False,
        "generation_config": "vllm",
    }
    options = VLLMEngineOptions(
        max_model_len=4096,
        dtype="bfloat16",
        tensor_parallel_size=2,
        gpu_memory_utilization=0.8,
        block_size=32,
        extra={"max_num_seqs": 64, "dtype": "float16"},
    )
    kwargs = options.engine_kwargs(on_cpu=False, environ={})
    assert kwargs["max_model_len"] == 4096
    assert kwargs["tensor_parallel_size"] == 2
    assert kwargs["gpu_memory_utilization"] == 0.8
    assert kwargs["block_size"] == 32
    assert kwargs["max_num_seqs"] == 64
    assert kwargs["dtype"] == "float16"  # `extra` wins: it is the escape hatch
