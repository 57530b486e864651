"""Next-token forwards of the hf judge that compute a shared prompt prefix once.

The calls of one prompt share the chat header, the judge instructions and the question;
only the answers differ. A prefix pass runs those shared tokens once per group and keeps
their KV cache; each member then runs only its own suffix on top of that cache. Suffix
batches mix members of different groups (each row gets its own group's cache), so that the
suffixes can be sorted by length across groups and padding stays small.

Layout of one suffix batch of ``B`` rows, longest cached prefix ``P``, longest suffix ``S``::

    cache slots  [ pad ... | prefix of row r ]   P slots, left-padded, masked where padded
    input ids    [ pad ... | suffix of row r ]   S tokens, left-padded
    positions    prefix_len(r) + 0, 1, ...       each row counts on from its own prefix

so the last column is every row's real last token, where the verdict is read. Padding in
the cache slots is never run through the model (no forward tokens), it only widens the
attention; padding in the suffix columns is counted as forward padding.

torch and transformers come in through the judge, which has imported them already.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

KV = list[tuple[Any, Any]]
"""A prefix's KV cache: per layer, ``(keys, values)`` of shape (1, heads, prefix_len, dim)."""


def left_pad(torch: Any, seqs: Sequence[Sequence[int]], pad_id: int) -> tuple[Any, Any]:
    """Left-pad token lists into ``(input_ids, attention_mask)`` tensors."""
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, seq in enumerate(seqs):
        ids[row, width - len(seq) :] = torch.tensor(list(seq), dtype=torch.long)
        mask[row, width - len(seq) :] = 1
    return ids, mask


def prefix_caches(
    model: Any, torch: Any, prefixes: Sequence[Sequence[int]], pad_id: int
) -> list[KV]:
    """One batched forward over ``prefixes``; each prefix's KV cache, without its padding."""
    ids, mask = left_pad(torch, prefixes, pad_id)
    positions = (mask.cumsum(-1) - 1).clamp_(min=0)
    with torch.inference_mode():
        out = model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
        )
    width = ids.shape[1]
    layers = [(layer.keys, layer.values) for layer in out.past_key_values.layers]
    caches: list[KV] = []
    for row, seq in enumerate(prefixes):
        start = width - len(seq)
        caches.append(
            [(k[row : row + 1, :, start:, :], v[row : row + 1, :, start:, :]) for k, v in layers]
        )
    return caches


def last_logprobs(
    model: Any,
    torch: Any,
    suffixes: Sequence[Sequence[int]],
    caches: Sequence[KV | None],
    pad_id: int,
) -> Any:
    """Log-softmax over the vocabulary after each row's last token, shape (rows, vocab).

    Row ``r`` is the prompt ``prefix(r) + suffixes[r]``, where ``caches[r]`` is the KV cache
    of its prefix (None: no prefix, the suffix is the whole prompt).
    """
    from transformers import DynamicCache

    rows = len(suffixes)
    ids, suffix_mask = left_pad(torch, suffixes, pad_id)
    width = ids.shape[1]
    prefix_lens = [0 if c is None else int(c[0][0].shape[2]) for c in caches]
    cached = max(prefix_lens)
    positions = torch.zeros((rows, width), dtype=torch.long)
    for row, seq in enumerate(suffixes):
        n, p = len(seq), prefix_lens[row]
        positions[row, width - n :] = torch.arange(p, p + n, dtype=torch.long)
    kwargs: dict[str, Any] = {}
    if cached:
        mask = torch.zeros((rows, cached + width), dtype=torch.long)
        mask[:, cached:] = suffix_mask
        template = next(c for c in caches if c is not None)
        data = []
        for layer, (k0, v0) in enumerate(template):
            shape = (rows, k0.shape[1], cached, k0.shape[3])
            keys, values = k0.new_zeros(shape), v0.new_zeros(shape)
            for row, cache in enumerate(caches):
                if cache is not None:
                    p = prefix_lens[row]
                    keys[row, :, cached - p :, :] = cache[layer][0][0]
                    values[row, :, cached - p :, :] = cache[layer][1][0]
                    mask[row, cached - p : cached] = 1
            data.append((keys, values))
        kwargs["past_key_values"] = DynamicCache(data)
    else:
        mask = suffix_mask
    with torch.inference_mode():
        # logits_to_keep=1: the LM head (576 x 49152 for SmolLM2) runs on the last
        # position only; use_cache=False when there is no prefix: nothing to keep.
        logits = model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=bool(cached),
            logits_to_keep=1,
            **kwargs,
        ).logits
        return torch.log_softmax(logits[:, -1, :].float(), dim=-1)
