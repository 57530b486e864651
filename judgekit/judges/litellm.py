"""``litellm/<provider>/<model>``: any provider litellm speaks, on the OpenAI judge's contract.

The runner, retry policy, choice-probability mapping and error classification are the ones in
``api_common``; this module only adapts ``litellm.acompletion`` to them. litellm is imported
here and nowhere else, and it is kept offline: no telemetry, no remote model-cost map.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from typing import Any

from judgekit.errors import ConfigError, MissingDependencyError
from judgekit.judges.api_common import (
    Backoff,
    Gate,
    chat_params,
    check_base_url,
    check_reachable,
    is_local_url,
    parse_completion,
    run_batch,
    run_interruptible,
)
from judgekit.judges.base import JudgeOptions
from judgekit.judges.event_loop import shared_loop
from judgekit.types import JudgeRequest, JudgeResponse

logger = logging.getLogger("judgekit.judges")

#: litellm providers that run on the user's own machine or cluster and take no API key.
SELF_HOSTED_PROVIDERS = frozenset(
    {"ollama", "ollama_chat", "vllm", "hosted_vllm", "lm_studio", "llamafile", "xinference"}
)

# litellm fetches these JSON files from GitHub when it is imported or first used, unless the
# variables say to use the copies bundled in the wheel. They must be set before the import.
_OFFLINE_ENV = (
    "LITELLM_LOCAL_MODEL_COST_MAP",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS",
    "LITELLM_LOCAL_BLOG_POSTS",
)


def _import_litellm() -> Any:
    """Import litellm offline and quiet, or explain how to install it."""
    for name in _OFFLINE_ENV:
        os.environ.setdefault(name, "True")  # setdefault: a user's explicit choice wins
    try:
        import litellm
    except ImportError as exc:
        raise MissingDependencyError(
            "The litellm judge", extra="litellm", module="litellm"
        ) from exc
    litellm.telemetry = False
    litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" banners on stdout
    return litellm


class LiteLLMJudge:
    """A judge behind ``litellm.acompletion``.

    Args:
        model: litellm's ``provider/model``, e.g. ``openai/gpt-4o-mini``,
            ``anthropic/claude-3-5-haiku-latest`` or ``hosted_vllm/Qwen/Qwen3-8B``.
        options: ``base_url`` (passed as ``api_base``), ``api_key_env``, ``concurrency``,
            ``max_retries`` and ``timeout_s`` are read. Unless ``api_key_env`` is set
            explicitly, litellm reads the provider's own variable (``ANTHROPIC_API_KEY``...).
        backoff: waits between retries; tests pass tiny ones.
        prefill: send ``request.assistant_prefix`` as a trailing assistant message, which
            Anthropic continues. Off by default because OpenAI-style servers do not.

    Raises:
        MissingDependencyError: litellm is not installed.
        ConfigError: litellm does not know the provider, or its API key is not set.
        JudgeUnavailable: nothing listens at ``base_url``.
    """

    supports_guided_choice = False

    def __init__(
        self,
        model: str,
        *,
        options: JudgeOptions,
        backoff: Backoff | None = None,
        prefill: bool = False,
    ) -> None:
        litellm = _import_litellm()
        self.model = model
        self.id = f"litellm/{model}"
        self.options = options
        self.backoff = backoff or Backoff()
        self.prefill = prefill
        self.batch_size = options.concurrency * 4
        # A cluster-wide limit, set by the distributed runner; None in one process.
        self.gate: Gate | None = None
        try:
            litellm.get_llm_provider(model, api_base=options.base_url)
        except Exception as exc:  # litellm raises its BadRequestError; the reason is in the text
            raise ConfigError(
                f"litellm cannot tell the provider of {model!r}; write the judge id as "
                "litellm/<provider>/<model>, e.g. litellm/openai/gpt-4o-mini"
            ) from exc
        supported = litellm.get_supported_openai_params(model=model) or []
        # Providers without logprobs (Anthropic, Ollama...) answer choice requests by text.
        self.supports_logprobs = "logprobs" in supported
        if options.base_url is not None:
            check_base_url(options.base_url)
        self._placeholder_key = self._check_key(litellm)
        if options.base_url is not None:
            check_reachable(options.base_url, timeout_s=options.timeout_s)

    def _check_key(self, litellm: Any) -> bool:
        """Fail now if a key is surely missing; return whether to send a placeholder key.

        A key is the provider's own variable, as litellm reads it (``ANTHROPIC_API_KEY``
        for ``anthropic/``), unless ``api_key_env`` names another. Self-hosted servers need
        none: a local provider (ollama, vllm, lm_studio...) or any ``api_base``.
        """
        options = self.options
        provider = self.model.split("/", 1)[0]
        self_hosted = options.base_url is not None or provider in SELF_HOSTED_PROVIDERS
        status = litellm.validate_environment(self.model, api_base=options.base_url)
        missing = [str(name) for name in status.get("missing_keys", [])]
        if "api_key_env" in options.model_fields_set:
            if not os.environ.get(options.api_key_env) and not self_hosted:
                raise ConfigError(
                    f"{self.id} reads its API key from {options.api_key_env}, which is not set"
                )
        elif not self_hosted and missing and all(name.endswith("API_KEY") for name in missing):
            # Only plain API keys are checked: cloud providers (Bedrock, Vertex) also
            # authenticate through profiles and metadata servers that litellm cannot see.
            raise ConfigError(
                f"{self.id} needs an API key: set {' or '.join(missing)} "
                "(or name another variable in JudgeOptions.api_key_env)"
            )
        # Self-hosted servers ignore the key, but litellm's OpenAI client insists on one.
        local = options.base_url is not None and is_local_url(options.base_url)
        return (local or self_hosted) and not status.get("keys_in_environment", False)

    def _api_key(self) -> str | None:
        """The key to pass, or None to let litellm read the provider's own variable.

        Read at call time, so that the judge never holds it.
        """
        if "api_key_env" in self.options.model_fields_set:
            key = os.environ.get(self.options.api_key_env)
            if key:
                return key
        return "EMPTY" if self._placeholder_key else None

    def judge(self, requests: Sequence[JudgeRequest]) -> list[JudgeResponse]:
        """One response per request, in order; failures are ``status="error"`` responses."""
        if not requests:
            return []
        # One long-lived loop for every call: litellm caches its HTTP clients process-wide, and
        # clients made on a loop that has since closed leak sockets and log warnings.
        loop = shared_loop()
        # litellm's cached clients live on this loop; close them there before it stops.
        loop.on_close(_close_litellm_clients)
        return run_interruptible(loop, lambda done: self._judge(list(requests), done))

    async def _judge(
        self, requests: list[JudgeRequest], answered: dict[int, JudgeResponse]
    ) -> list[JudgeResponse]:
        import litellm

        api_key = self._api_key()

        async def call(request: JudgeRequest) -> JudgeResponse:
            params = chat_params(request, logprobs=self.supports_logprobs, prefill=self.prefill)
            response = await litellm.acompletion(
                model=self.model,
                api_base=self.options.base_url,
                api_key=api_key,
                timeout=self.options.timeout_s,
                num_retries=0,  # run_batch retries, on judgekit's policy
                max_retries=0,  # and so does not the OpenAI client inside litellm
                drop_params=True,  # e.g. temperature for models that reject it
                **params,
            )
            parsed = parse_completion(response.model_dump(), request)
            return dataclasses.replace(parsed, cost=_cost(litellm, response))

        return await run_batch(
            requests,
            call,
            concurrency=self.options.concurrency,
            max_retries=self.options.max_retries,
            backoff=self.backoff,
            key_env=self.options.api_key_env,
            gate=self.gate,
            answered=answered,
        )


async def _close_litellm_clients() -> None:
    from litellm.llms.custom_httpx.async_client_cleanup import close_litellm_async_clients

    await close_litellm_async_clients()


def _cost(litellm: Any, response: Any) -> float | None:
    """USD cost from litellm's bundled price map; None for models it has no price for."""
    try:
        cost = litellm.completion_cost(completion_response=response)
    except Exception as exc:  # litellm raises assorted errors for unmapped models
        logger.debug("no cost for %s: %s", getattr(response, "model", "?"), exc)
        return None
    return float(cost) if isinstance(cost, (int, float)) else None
