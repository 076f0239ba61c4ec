"""dvc.yaml's code deps match the imports, minus the output-neutral modules (scripts/check_stage_deps.py)."""

import copy
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import check_stage_deps as deps  # noqa: E402

STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def test_the_committed_dvc_yaml_passes():
    problems = [p for name, stage in STAGES.items() for p in deps.check_stage(name, stage)]
    assert problems == []


@pytest.mark.parametrize(
    "module",
    [
        "packages/core/src/medinstruct_core/tracking.py",
        "packages/core/src/medinstruct_core/stage.py",
        "packages/core/src/medinstruct_core/llm/ledger/__init__.py",
        "packages/core/src/medinstruct_core/cli.py",
    ],
)
def test_no_stage_depends_on_output_neutral_code(module):
    """A comment in tracking, the stage runner, the ledger or the CLI re-runs nothing."""
    for name, stage in STAGES.items():
        covering = [
            d for d in stage["deps"] if module == d or module.startswith(d.rstrip("/") + "/")
        ]
        assert covering == [], (name, covering)


def test_a_missing_module_dep_is_named():
    stage = copy.deepcopy(STAGES["curate"])
    stage["deps"].remove("packages/curate/src")
    problems = deps.check_stage("curate", stage)
    assert (
        "curate: needs packages/curate/src/medinstruct_curate/curate.py but no dep covers it"
        in problems
    )


def test_a_whole_package_folder_that_holds_neutral_code_is_refused():
    stage = copy.deepcopy(STAGES["curate"])
    stage["deps"].append("packages/core/src")
    problems = deps.check_stage("curate", stage)
    assert any(
        "covers output-neutral packages/core/src/medinstruct_core/tracking.py" in p
        for p in problems
    )
    assert any("covers packages/core/src/medinstruct_core/llm/client.py, which it does not use" in p
               for p in problems)  # fmt: skip


def test_package_data_must_be_declared():
    """Prompts are read through importlib.resources: no import shows them, so the check asks."""
    stage = copy.deepcopy(STAGES["generate_instructions"])
    stage["deps"].remove("packages/datagen/src/medinstruct_datagen/prompts")
    problems = deps.check_stage("generate_instructions", stage)
    assert any("prompts" in p and "no dep covers it" in p for p in problems), problems


def test_data_files_a_module_declares_are_deps(tmp_path):
    """The ROUGE-L scan's C source is read through importlib.resources, beside its module."""
    stage = copy.deepcopy(STAGES["curate"])
    stage["deps"].remove("packages/text/src/medinstruct_text/scan.c")
    problems = deps.check_stage("curate", stage)
    assert (
        "curate: needs packages/text/src/medinstruct_text/scan.c but no dep covers it" in problems
    )
    module = tmp_path / "kernel.py"
    module.write_text('"""doc"""\nPACKAGE_DATA = ("a.c", "b.txt")\nOTHER = ("c",)\n')
    assert deps.declared_data(module) == {tmp_path / "a.c", tmp_path / "b.txt"}


def test_imports_inside_functions_count(tmp_path):
    script = tmp_path / "stage.py"
    script.write_text("def main():\n    from medinstruct_curate.curate import curate\n")
    found = deps.closure(script)
    assert ROOT / "packages/curate/src/medinstruct_curate/curate.py" in found


def test_neutral_modules_are_not_followed(tmp_path):
    script = tmp_path / "stage.py"
    script.write_text("import medinstruct_core.tracking\n")
    assert deps.closure(script) == {script}
