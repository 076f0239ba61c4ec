"""Typed loading of params.yaml sections.

Each package owns the pydantic model for the section it reads. Models use
`extra="forbid"`, so a typo such as `lerning_rate` fails at once and the error
names the file and the dotted key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

C = TypeVar("C", bound=BaseModel)


class ParamsError(ValueError):
    """params.yaml is missing, malformed, or holds an unknown or mistyped key."""


class Config(BaseModel):
    """Base for every params section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def read_params(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path}: params file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping at the top level")
    return data


def load_section(path: str | Path, section: str, model: type[C]) -> C:
    """Validate `section` of the params file at `path` into `model`."""
    data = read_params(path)
    if section not in data:
        raise ParamsError(f"{path}: missing section '{section}'")
    return parse_section(data[section], model, where=f"{path}: {section}")


def parse_section(raw: Any, model: type[C], where: str) -> C:
    try:
        return model.model_validate(raw if raw is not None else {})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                problems.append(f"unknown key '{key}'")
            else:
                problems.append(f"key '{key}': {err['msg']}")
        raise ParamsError(f"{where}: " + "; ".join(problems)) from exc
