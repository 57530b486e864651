"""``judgekit judges``: list the judge providers."""

from __future__ import annotations

import click

PROVIDERS = {
    "hf": ("hf/smollm2, hf/PATH", "in-process transformers; smollm2 is embedded (extra: local)"),
    "openai": ("openai/MODEL", "any OpenAI-compatible server via --base-url (vLLM, llama.cpp)"),
    "litellm": ("litellm/PROVIDER/MODEL", "API providers through litellm (extra: litellm)"),
    "vllm": ("vllm/PATH", "in-process vLLM engine (extra: vllm)"),
    "fake": ("fake/hash, fake/always-a", "deterministic fakes for tests and dry runs"),
}


@click.group()
def judges() -> None:
    """Judge backends."""


@judges.command("list")
def list_judges() -> None:
    """List the judge providers and their id formats."""
    from judgekit.judges.registry import known_providers

    for name in known_providers():
        example, text = PROVIDERS.get(name, (f"{name}/MODEL", ""))
        click.echo(f"{example:<28} {text}")
