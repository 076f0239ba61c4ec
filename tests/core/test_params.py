import pytest

from medinstruct_core.llm.config import LLMSection
from medinstruct_core.params import ParamsError, load_section


def test_repo_params_llm_section_is_valid(project_root):
    llm = load_section(project_root / "params.yaml", "llm", LLMSection)
    assert llm.teacher.sampling.temperature == 1.0
    assert llm.teacher.sampling.presence_penalty == 1.5


def test_unknown_key_is_named(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("llm:\n  teacher:\n    sampling: {temprature: 0.5}\n")
    with pytest.raises(
        ParamsError, match=r"params\.yaml: llm: unknown key 'teacher\.sampling\.temprature'"
    ):
        load_section(path, "llm", LLMSection)


def test_mistyped_value_is_named(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("llm:\n  client: {max_concurrency: many}\n")
    with pytest.raises(ParamsError, match=r"key 'client\.max_concurrency'"):
        load_section(path, "llm", LLMSection)


def test_missing_section_and_file(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("seed: 1\n")
    with pytest.raises(ParamsError, match="missing section 'llm'"):
        load_section(path, "llm", LLMSection)
    with pytest.raises(ParamsError, match="not found"):
        load_section(tmp_path / "nope.yaml", "llm", LLMSection)
