"""Fence untrusted text (prompts, candidate outputs) so that it cannot pass for instructions.

The boundary is derived from a hash of the text itself. It is deterministic, which keeps
request hashes stable for caching, and a candidate cannot close its own fence: it would
have to contain a hash of a text that includes that hash.
"""

from __future__ import annotations

import hashlib


def boundary_for(text: str, *, label: str) -> str:
    salt = 0
    while True:
        digest = hashlib.sha256(f"{label}\x00{salt}\x00{text}".encode()).hexdigest()[:12]
        if digest not in text:
            return digest
        salt += 1  # astronomically unlikely, but a fence must never appear inside its text


def fence(text: str, *, label: str) -> str:
    """Wrap ``text`` in ``<<<BEGIN label id>>> … <<<END label id>>>`` markers."""
    tag = boundary_for(text, label=label)
    return f"<<<BEGIN {label} {tag}>>>\n{text}\n<<<END {label} {tag}>>>"
