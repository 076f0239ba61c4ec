"""A GGUF candidate (the embedded SmolLM2 file) answers through llama.cpp, via the one
LLM client, and takes the multiple-choice benchmarks through llama.cpp in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from medinstruct_core.llm.config import ClientConfig, EmbeddedConfig, LLMSection
from medinstruct_core.records import EvalItem
from medinstruct_eval import remote
from medinstruct_eval.candidates import resolve_candidate
from medinstruct_eval.config import CandidateConfig
from medinstruct_eval.mcq import McqConfig
from medinstruct_eval.mcq_data import McqDataConfig, convert_mmlu, sha256_file
from medinstruct_eval.run import candidate_mcq

MMLU_MINI = Path(__file__).resolve().parents[1] / "fixtures" / "mcq" / "mmlu_mini.jsonl"


@pytest.fixture(scope="module")
def gguf() -> Path:
    pytest.importorskip("llama_cpp")
    from medinstruct_core.llm.server import EmbeddedServerError, packaged_gguf

    try:
        return packaged_gguf()
    except EmbeddedServerError as exc:
        pytest.skip(str(exc))


@pytest.mark.slow
def test_gguf_candidate_answers_through_llama_cpp(
    tmp_path: Path, gguf: Path, items: list[EvalItem]
) -> None:
    candidate = resolve_candidate(
        CandidateConfig(name="smol", model=str(gguf)), {}, cache_dir=tmp_path
    )
    assert candidate.kind == "gguf"
    llm = LLMSection(embedded=EmbeddedConfig(n_threads=2, n_ctx=1024),
                     client=ClientConfig(cache_dir=str(tmp_path / "cache")))  # fmt: skip
    sampling = remote.candidate_sampling(24, seed=3)
    sets = {"medinstruct": items[:2]}
    with remote.open_candidate(llm, candidate, sampling, root=tmp_path, stage="evaluate") as client:
        assert client.endpoint.kind == "embedded" and client.endpoint.model == "candidate-smol"
        answers, failures = remote.answer_remote(client, candidate, sets, sampling)
        again, _ = remote.answer_remote(client, candidate, sets, sampling)
        assert client.stats.cache_hits >= 2  # the second pass asked nothing
    assert failures == {} and answers["medinstruct"].prompt_format == "chat_template"
    texts = answers["medinstruct"].texts
    assert len(texts) == 2 and all(t.strip() for t in texts)
    assert again["medinstruct"].texts == texts  # greedy and seeded: the same answers


@pytest.mark.slow
def test_gguf_candidate_takes_mcq_through_llama_cpp(tmp_path: Path, gguf: Path) -> None:
    convert_mmlu(MMLU_MINI, tmp_path, ["anatomy"], sha256_file(MMLU_MINI))
    candidate = resolve_candidate(
        CandidateConfig(name="smol", model=str(gguf)), {}, cache_dir=tmp_path
    )
    cfg = McqConfig(benchmarks=["mmlu_anatomy"], limit=3, n_ctx=512, data=McqDataConfig())
    result = candidate_mcq(candidate, cfg, tmp_path, EmbeddedConfig(n_threads=2), {})
    anatomy = result["subjects"]["mmlu_anatomy"]
    assert anatomy["n"] == 3 and 3 * anatomy["acc"] == pytest.approx(
        round(3 * anatomy["acc"]), abs=1e-5
    )
    assert result["macro"]["n_subjects"] == 1
