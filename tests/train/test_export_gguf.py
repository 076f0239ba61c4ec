"""GGUF export through llama.cpp's converter (found in llama-cpp-python's source package)."""

import importlib.util
import subprocess
import sys

import pytest

from medinstruct_train import export_gguf as eg


def _fake_llama_cpp(root):
    script = root / "vendor" / "llama.cpp" / eg.CONVERTER
    (script.parent / "conversion").mkdir(parents=True)
    (script.parent / "gguf-py").mkdir()
    script.write_text("")
    return script


def test_env_var_converter_wins_when_usable(tmp_path, monkeypatch):
    script = _fake_llama_cpp(tmp_path)
    monkeypatch.setenv(eg.ENV_VAR, str(script))
    assert eg.find_converter() == script


def test_a_converter_without_its_conversion_package_is_not_usable(tmp_path):
    script = _fake_llama_cpp(tmp_path)
    (script.parent / "conversion").rmdir()
    assert not eg.usable(script)


def test_missing_converter_says_where_it_looked_and_how_to_get_it(tmp_path, monkeypatch):
    missing = tmp_path / "nope" / eg.CONVERTER
    monkeypatch.setattr(eg, "candidates", lambda: [missing])
    with pytest.raises(eg.GgufExportError) as err:
        eg.find_converter()
    message = str(err.value)
    assert str(missing) in message
    assert "pip download --no-deps --no-binary :all: llama-cpp-python==" in message
    assert eg.ENV_VAR in message


def test_uv_cache_prefers_the_installed_version(tmp_path, monkeypatch):
    base = tmp_path / "sdists-v11" / "pypi" / "llama-cpp-python"
    for version in ("0.3.1", "0.3.36"):
        _fake_llama_cpp(base / version / "abc" / "src")
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path))
    found = eg.uv_cache_candidates("0.3.36")
    assert len(found) == 2 and "/0.3.36/" in found[0].as_posix()


@pytest.mark.slow
def test_tiny_model_exports_to_a_gguf_llama_cpp_can_run(tiny_base, tmp_path):
    try:
        eg.find_converter()
    except eg.GgufExportError as exc:
        pytest.skip(str(exc))
    info = eg.export_gguf(tiny_base, tmp_path / "out" / "tiny.gguf", outtype="q8_0")
    assert (info["architecture"], info["n_tensors"], info["outtype"]) == ("llama", 20, "q8_0")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["tiny.gguf"]  # no scratch left
    if importlib.util.find_spec("llama_cpp") is None:
        return
    # Run it with llama.cpp in its own process, so a native crash fails the test, not pytest.
    # f32 here: llama.cpp's q8_0 CPU path crashes (SIGSEGV) on this 64-wide, head_dim-16 toy
    # model; real students (SmolLM2: head_dim 64) run as q8_0.
    f32 = eg.export_gguf(tiny_base, tmp_path / "out" / "tiny-f32.gguf", outtype="f32")
    proc = subprocess.run([sys.executable, "-c", LLAMA_CHECK, f32["path"]],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.stdout.strip().startswith("completion_tokens="), proc.stderr[-2000:]
    assert int(proc.stdout.strip().split("=")[1]) >= 1


LLAMA_CHECK = """
import sys
from llama_cpp import Llama
llm = Llama(model_path=sys.argv[1], n_ctx=128, n_threads=1, verbose=False)
out = llm("### Instruction:\\nDefine sepsis.\\n\\n### Response:\\n", max_tokens=3)
print(f"completion_tokens={out['usage']['completion_tokens']}", flush=True)
"""
