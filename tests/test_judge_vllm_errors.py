"""The vLLM judge's errors, engine defaults and options, checked without vllm (default suite).

Every test here fails before vllm would be imported, or hides vllm on purpose, so the file
runs the same in the dev environment (no vllm) and in ``.venv-vllm``.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from judgekit.cli import cli
from judgekit.errors import ConfigError, MissingDependencyError
from judgekit.judges import get_judge
from judgekit.judges.base import JudgeOptions
from judgekit.judges.vllm import DEFAULT_BATCH_SIZE, VLLMJudge
from judgekit.judges.vllm_engine import _FIELD_TYPES, CPU_KV_CACHE_BYTES, VLLMEngineOptions


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


def test_every_engine_field_but_extra_can_be_set_by_name() -> None:
    names = {f.name for f in dataclasses.fields(VLLMEngineOptions)}
    assert set(_FIELD_TYPES) == names - {"extra"}


def test_judge_options_engine_fields_are_typed_and_the_rest_passes_through() -> None:
    options = JudgeOptions(
        engine={
            "max_model_len": "4096",
            "dtype": "bfloat16",
            "tensor_parallel_size": "2",
            "gpu_memory_utilization": "0.85",
            "enforce_eager": "false",
            "max_num_seqs": "64",
            "swap_space": "0.5",
            "tokenizer_mode": "slow",
        }
    )
    engine = VLLMEngineOptions.from_judge_options(options)
    assert engine.max_model_len == 4096
    assert engine.dtype == "bfloat16"
    assert engine.tensor_parallel_size == 2
    assert engine.gpu_memory_utilization == 0.85
    assert engine.enforce_eager is False
    assert engine.extra == {"max_num_seqs": 64, "swap_space": 0.5, "tokenizer_mode": "slow"}
    kwargs = engine.engine_kwargs(on_cpu=True, environ={})
    assert kwargs["max_model_len"] == 4096 and kwargs["enforce_eager"] is False
    assert kwargs["max_num_seqs"] == 64 and kwargs["tokenizer_mode"] == "slow"
    # gpu_memory_utilization sizes the KV cache, so the 1 GiB CPU default steps aside.
    assert "kv_cache_memory_bytes" not in kwargs


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("max_model_len", "4k", "max_model_len='4k' is not a valid int"),
        ("tensor_parallel_size", "1.5", "tensor_parallel_size='1.5' is not a valid int"),
        ("gpu_memory_utilization", "most", "is not a valid float"),
        ("enforce_eager", "maybe", "enforce_eager='maybe' is not a valid bool"),
        ("dtype", "", "dtype='' is not a valid str"),
        ("gpu_memory_utilization", "2", "gpu_memory_utilization must be in (0, 1]"),
        ("extra", "{}", "'extra' cannot be set by name"),
    ],
)
def test_bad_engine_options_fail_before_vllm_is_imported(
    monkeypatch: pytest.MonkeyPatch, key: str, value: str, message: str
) -> None:
    # vllm hidden: the options are checked first, so the error is about them, not the install.
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(ConfigError, match=re.escape(message)):
        get_judge("vllm/smollm2", options=JudgeOptions(engine={key: value}))


def test_vllm_takes_big_batches_unless_told_otherwise() -> None:
    # The CLI leaves batch_size unset unless --batch-size is given; vLLM batches internally,
    # so it gets big judge() calls, while an explicit size is honoured.
    assert "batch_size" not in JudgeOptions().model_fields_set
    assert DEFAULT_BATCH_SIZE == 256
    assert "batch_size" in JudgeOptions(batch_size=8).model_fields_set


def test_engine_options_are_refused_by_backends_that_would_ignore_them() -> None:
    with pytest.raises(ConfigError, match="read only by the vllm backend, not by 'fake/hash'"):
        get_judge("fake/hash", options=JudgeOptions(engine={"max_model_len": "1024"}))


def test_cli_judge_opt_errors(arena_files: list[Path], tmp_path: Path) -> None:
    db = tmp_path / "j.duckdb"
    files = [str(f) for f in arena_files]
    usage = [
        (["--judge-opt", "max_model_len"], "'max_model_len' is not KEY=VALUE"),
        (["--judge-opt", "=3"], "'=3' is not KEY=VALUE"),
        (["--judge-opt", "dtype=float32", "--judge-opt", "dtype=half"], "'dtype' is given twice"),
    ]
    for extra, message in usage:
        result = CliRunner().invoke(cli, ["compare", *files, "--judge", "vllm/smollm2", *extra])
        assert result.exit_code == 2, result.output
        assert message in result.output
    config = [
        (["--judge", "fake/hash", "--judge-opt", "max_model_len=512"], "read only by the vllm"),
        (
            ["--judge", f"vllm/{tmp_path / 'nope'}", "--judge-opt", "dtype=float32"],
            "does not exist",
        ),
        (["--judge", "vllm/smollm2", "--judge-opt", "max_model_len=big"], "not a valid int"),
    ]
    for extra, message in config:
        result = CliRunner().invoke(cli, ["compare", *files, *extra, "--db", str(db)])
        assert result.exit_code == 1, result.output
        assert message in result.stderr
        assert "Traceback" not in result.output
    assert not db.exists()
