"""Map judge ids such as ``hf/smollm2`` or ``openai/gpt-4o-mini`` to lazily imported loaders.

Each loader imports its backend module inside its body so that ``import judgekit`` never
pulls in torch, transformers, vllm or litellm.
"""

from __future__ import annotations

from collections.abc import Callable

from judgekit.errors import ConfigError
from judgekit.judges.base import Judge, JudgeOptions

Loader = Callable[[str, JudgeOptions], Judge]


def _load_hf(model: str, options: JudgeOptions) -> Judge:
    from judgekit.judges.hf import HFJudge

    # Lazy: a run answered entirely from the store then never imports torch or loads the
    # model; the model's location and the dependencies are still checked here, up front.
    return HFJudge(model, options=options, lazy=True)


def _load_openai(model: str, options: JudgeOptions) -> Judge:
    from judgekit.judges.openai import OpenAIJudge

    return OpenAIJudge(model, options=options)


def _load_litellm(model: str, options: JudgeOptions) -> Judge:
    from judgekit.judges.litellm import LiteLLMJudge

    return LiteLLMJudge(model, options=options)


def _load_vllm(model: str, options: JudgeOptions) -> Judge:
    from judgekit.judges.vllm import VLLMJudge

    return VLLMJudge(model, options=options)


def _load_fake(model: str, options: JudgeOptions) -> Judge:
    from judgekit.judges.fakes import fake_judge

    return fake_judge(model)


_PROVIDERS: dict[str, Loader] = {
    "hf": _load_hf,
    "openai": _load_openai,
    "litellm": _load_litellm,
    "vllm": _load_vllm,
    "fake": _load_fake,
}


# Providers that read JudgeOptions.engine (--judge-opt); the others would silently ignore it.
ENGINE_OPTION_PROVIDERS = frozenset({"vllm"})


def register_provider(name: str, loader: Loader) -> None:
    """Add a judge provider, e.g. from a plugin: ``loader(model, options) -> Judge``."""
    if "/" in name or not name:
        raise ConfigError(f"provider name {name!r} must be non-empty and contain no '/'")
    _PROVIDERS[name] = loader


def known_providers() -> list[str]:
    return sorted(_PROVIDERS)


def get_judge(judge_id: str, *, options: JudgeOptions | None = None) -> Judge:
    """Build the judge named by ``provider/model``.

    Raises:
        ConfigError: the id is malformed or names an unknown provider.
        MissingDependencyError: the provider's extra is not installed.
    """
    provider, sep, model = judge_id.partition("/")
    if not sep or not model:
        raise ConfigError(
            f"judge id {judge_id!r} must look like 'provider/model', "
            f"e.g. 'hf/smollm2' or 'openai/gpt-4o-mini' (providers: {', '.join(known_providers())})"
        )
    loader = _PROVIDERS.get(provider)
    if loader is None:
        raise ConfigError(
            f"unknown judge provider {provider!r} in {judge_id!r}; "
            f"known providers: {', '.join(known_providers())}"
        )
    options = options or JudgeOptions()
    if options.engine and provider not in ENGINE_OPTION_PROVIDERS:
        raise ConfigError(
            f"engine options ({', '.join(sorted(options.engine))}) are read only by the "
            f"{', '.join(sorted(ENGINE_OPTION_PROVIDERS))} backend, not by {judge_id!r}; "
            f"drop --judge-opt for this judge"
        )
    return loader(model, options)
