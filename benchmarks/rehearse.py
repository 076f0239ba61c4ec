"""`make rehearse`: the paper profile end to end against a simulated OpenAI endpoint.

Why: a 52k-task paper run costs hundreds of dollars, and until now the first sign
that the pipeline cannot carry it (a stage that slows down as it grows, memory
that does not fit, a gate that blocks good data) came after the money was spent.
This runs the same DAG on the same params, at the same size, for free:

- a scratch copy of the project (`medinstruct_core.profiles`, as `make smoke`) with
  params = params.yaml + profiles/paper.yaml + benchmarks/rehearsal.yaml (training
  shrunk to a tiny random model and a few steps; everything else at full size) and
  `generate_instructions.num_tasks = N`;
- the simulated endpoint (tests/fakes/sim_openai.py) in its own process: the teacher,
  responder and judge answer in microseconds with realistic token counts, and
  `free_endpoints: []` makes the ledger price them at the profile's prices, under
  the profile's budget cap;
- each stage run by `dvc repro -s <stage>` in DAG order, its process tree's wall
  time, CPU time and peak RSS read from `wait4` (the endpoint's CPU is measured
  apart, from its own process);
- reports/rehearsal.md: time and memory per stage, requests and tokens per role,
  what they would have cost, tasks kept, rows after curate, the gate's verdict.

    python -m benchmarks.rehearse --n 52000            # make rehearse
    python -m benchmarks.rehearse --n 300 --set mcq.limit=2 --report /tmp/r.md
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OVERLAY = ROOT / "benchmarks" / "rehearsal.yaml"
PAPER_TASKS, PAPER_MAX_REQUESTS, PAPER_MIN_ROWS = 52_000, 12_000, 1_000
API_KEY = "sk-rehearsal"  # the simulator accepts any key; the client wants one
TARGET_S, TARGET_RSS_MB = 600.0, 4096.0
KINDS = ("teacher", "responder", "judge")


@dataclass
class StageRun:
    """One stage as measured: its process tree (dvc + the stage) and the endpoint meanwhile."""

    name: str
    rc: int
    wall_s: float
    cpu_s: float  # user + system of the stage's process tree
    peak_rss_mb: float  # the largest resident set in that tree
    endpoint_cpu_s: float  # the simulator's CPU time during the stage
    served: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> counts
    log: str = ""


# -- the scratch copy ---------------------------------------------------------------------
def merge(target: Any, changes: Mapping[str, Any]) -> None:
    """Deep-merge `changes` into `target`; new keys are allowed (the stages validate them)."""
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), Mapping) and value:
            merge(target[key], value)
        else:
            target[key] = value


def parse_sets(sets: Sequence[str]) -> dict[str, Any]:
    """`a.b=value` pairs (values read as YAML) as a nested dict."""
    import yaml

    out: dict[str, Any] = {}
    for item in sets:
        key, sep, raw = item.partition("=")
        if not sep:
            raise SystemExit(f"--set wants key=value, got {item!r}")
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(raw)
    return out


def scaled(n: int) -> dict[str, Any]:
    """What changes with N: the task count, the request cap and the gate's row floor
    keep the paper's ratios (12,000 requests and 1,000 rows for 52,000 tasks)."""
    return {
        "generate_instructions": {
            "num_tasks": n,
            "max_requests": max(10, math.ceil(PAPER_MAX_REQUESTS * n / PAPER_TASKS)),
        },
        "validate": {"schema": {"min_rows": min(PAPER_MIN_ROWS, max(5, n // 4))}},
    }


def rehearsal_params(root: Path, n: int, batch: Sequence[str], sets: Mapping[str, Any]) -> str:
    """params.yaml text: the paper profile, the rehearsal overlay, N, Batch API roles, --set."""
    from medinstruct_core.profiles import _yaml, render

    yaml = _yaml()
    params = yaml.load(render(root, "paper"))
    merge(params, yaml.load(OVERLAY.read_text()))
    merge(params, scaled(n))
    for role in batch:
        merge(params, {"llm": {role: {"batch": True, "batch_poll_s": 0.2}}})
    merge(params, sets)
    params["profile"] = "rehearsal"
    out = io.StringIO()
    yaml.dump(params, out)
    return out.getvalue()


def paper_limits(root: Path) -> dict[str, float]:
    """The profile's rate limits (the rehearsal lifts them; the report says what they cost in time)."""
    import yaml

    from medinstruct_core.profiles import render

    client = yaml.safe_load(render(root, "paper"))["llm"]["client"]
    return {k: float(client.get(k) or 0) for k in ("requests_per_minute", "tokens_per_minute")}


def make_scratch(root: Path, dest: Path, params_text: str) -> None:
    """The project's sources (no stale outputs) with the rehearsal params, committed to git."""
    from medinstruct_core.profiles import _copy_tree

    dest.mkdir(parents=True, exist_ok=True)
    _copy_tree(root, dest)
    (dest / "params.yaml").write_text(params_text)
    env = {**os.environ, **_git_identity()}
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "rehearsal"]):
        subprocess.run(cmd, cwd=dest, check=True, env=env)


def _git_identity() -> dict[str, str]:
    who = {"NAME": "rehearsal", "EMAIL": "rehearsal@localhost"}
    return {f"GIT_{role}_{k}": v for role in ("AUTHOR", "COMMITTER") for k, v in who.items()}


def stage_order(dest: Path) -> list[str]:
    """dvc.yaml's stages in file order (the file lists each stage after what it needs)."""
    import yaml

    return list((yaml.safe_load((dest / "dvc.yaml").read_text()) or {}).get("stages", {}))


# -- the simulated endpoint ---------------------------------------------------------------
class Simulator:
    """The simulated endpoint in its own process (its CPU is not the pipeline's).

    `ensure()` restarts it if it is gone (a stray kill on a shared machine must not cost
    a 52k run); its counters restart too, which is why stages keep their own deltas."""

    def __init__(self, root: Path, latency: float, fault_rate: float, log: Path) -> None:
        self.cmd = [sys.executable, "-m", "tests.fakes.sim_openai", "--latency", str(latency),
                    "--fault-rate", str(fault_rate)]  # fmt: skip
        self.root, self.log = root, log
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.peak_rss_mb = 0.0

    def ensure(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        if self.proc is not None:
            print(
                f"rehearse: the simulator exited ({self.proc.returncode}); restarting it",
                flush=True,
            )
        with self.log.open("a") as err:
            self.proc = subprocess.Popen(self.cmd, cwd=self.root, stdout=subprocess.PIPE,
                                         stderr=err, text=True, start_new_session=True)  # fmt: skip
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http"):
            self.proc.kill()
            raise SystemExit(f"the simulator did not start (see {self.log})")

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/sim/stats", timeout=30) as reply:
            return dict(json.load(reply))

    def cpu_s(self) -> float:
        """User + system seconds of the simulator process (Linux /proc)."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def note_peak_rss(self) -> None:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                self.peak_rss_mb = max(self.peak_rss_mb, int(line.split()[1]) / 1024)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def served_delta(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """What the endpoint served between two stats snapshots, by role (and its faults)."""
    delta: dict[str, dict[str, int]] = {}
    for kind, counts in after["by_kind"].items():
        prior = before["by_kind"].get(kind, {})
        delta[kind] = {k: int(v) - int(prior.get(k, 0)) for k, v in counts.items()}
    faults = {
        c: int(n) - int(before.get("faults", {}).get(c, 0))
        for c, n in after.get("faults", {}).items()
    }
    delta["faults"] = {c: n for c, n in faults.items() if n}
    return delta


def endpoint_totals(runs: Sequence[StageRun]) -> dict[str, Any]:
    """What the endpoint served over the whole rehearsal: the stages' deltas, summed."""
    by_kind: dict[str, dict[str, int]] = {k: {} for k in KINDS}
    faults: dict[str, int] = {}
    for run in runs:
        for kind, counts in run.served.items():
            target = faults if kind == "faults" else by_kind.setdefault(kind, {})
            for key, value in counts.items():
                target[key] = target.get(key, 0) + value
    return {"by_kind": by_kind, "faults": faults}


# -- running the stages -------------------------------------------------------------------
def stage_env(dest: Path, url: str) -> dict[str, str]:
    """The stages' environment: the simulator, the scratch MLflow store, no telemetry, and
    bytecode cached under the scratch copy.

    Why the bytecode: a sandbox that sets PYTHONDONTWRITEBYTECODE=1 over a site-packages
    without .pyc files makes every stage (and dvc) compile ~2,600 modules from source,
    ~10 s of CPU each time, which no installed project pays after its first run. The
    first stage still compiles what it imports; the rest reuse it, as on a real machine.
    """
    env = {**os.environ, **_git_identity(), "OPENAI_BASE_URL": url, "OPENAI_API_KEY": API_KEY,
           "PYTHONPYCACHEPREFIX": str(dest / ".rehearsal" / "pycache"),
           "MLFLOW_TRACKING_URI": f"sqlite:///{dest / 'mlflow.db'}",
           "MLFLOW_DISABLE_TELEMETRY": "true", "DVC_NO_ANALYTICS": "1",
           "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
           "TOKENIZERS_PARALLELISM": "false"}  # fmt: skip
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_stage(dest: Path, stage: str, sim: Simulator) -> StageRun:
    """`dvc repro -s <stage>`; wall, CPU and peak RSS of its process tree from wait4."""
    sim.ensure()
    log = dest / ".rehearsal" / f"{stage}.log"
    before, sim_cpu = sim.stats(), sim.cpu_s()
    started = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "dvc", "repro", "-s", stage], cwd=dest,
                                env=stage_env(dest, sim.url), stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    alive = sim.proc is not None and sim.proc.poll() is None
    if alive:
        sim.note_peak_rss()
    return StageRun(
        name=stage,
        rc=proc.returncode,
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024,  # kB on Linux
        endpoint_cpu_s=sim.cpu_s() - sim_cpu if alive else 0.0,
        served=served_delta(before, sim.stats()) if alive else {},
        log=str(log),
    )


def run_all(
    dest: Path, sim: Simulator, past_gate: bool, only: Sequence[str] = ()
) -> list[StageRun]:
    """Every stage (or those in `only`) in DAG order; stops at the first failure (at the
    gate only if not `past_gate`). A stage measured by an earlier, interrupted rehearsal of
    this copy (`.rehearsal/<stage>.json`) is not run again: `--resume` goes on from there."""
    (dest / ".rehearsal").mkdir(exist_ok=True)
    runs = []
    for stage in [s for s in stage_order(dest) if not only or s in only]:
        saved = dest / ".rehearsal" / f"{stage}.json"
        if saved.exists():
            runs.append(StageRun(**json.loads(saved.read_text())))
            print(f"rehearse: {stage}: measured before, kept", flush=True)
            continue
        print(f"rehearse: {stage} ...", flush=True)
        run = run_stage(dest, stage, sim)
        runs.append(run)
        print(f"rehearse: {stage}: rc {run.rc}, {run.wall_s:.1f} s wall, {run.cpu_s:.1f} s CPU, "
              f"peak {run.peak_rss_mb:.0f} MB", flush=True)  # fmt: skip
        if run.rc == 0:
            saved.write_text(json.dumps(dataclasses.asdict(run)))
        elif not (past_gate and stage == "validate"):
            print(tail(Path(run.log), 30), file=sys.stderr)
            break
    return runs


def tail(path: Path, lines: int) -> str:
    text = path.read_text(errors="replace").replace("\r", "\n") if path.exists() else ""
    return "\n".join([ln for ln in text.splitlines() if ln.strip()][-lines:])


# -- what the run produced ----------------------------------------------------------------
def read_metrics(dest: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for path in sorted((dest / "metrics").glob("*.json")):
        found[path.stem] = json.loads(path.read_text())
    return found


def ledger_rows(dest: Path) -> tuple[list[dict[str, Any]], float, float | None]:
    """The spend ledger of the scratch copy: rows by stage/role/model (as dicts), total, cap."""
    import yaml

    from medinstruct_core.llm.ledger import LEDGER_FILE, Ledger

    client = yaml.safe_load((dest / "params.yaml").read_text())["llm"]["client"]
    path = dest / client["cache_dir"] / LEDGER_FILE
    if not path.exists():
        return [], 0.0, client.get("budget_usd")
    with Ledger(path, client.get("budget_usd")) as ledger:
        rows = [dataclasses.asdict(row) for row in ledger.rows()]
        return rows, ledger.total_usd(), ledger.budget_usd


@dataclass
class Rehearsal:
    """Everything the report shows."""

    n: int
    dest: Path
    runs: list[StageRun]
    metrics: dict[str, dict[str, Any]]
    spend: list[dict[str, Any]]
    spend_total: float
    budget: float | None
    endpoint: dict[str, Any]
    endpoint_peak_rss_mb: float
    params: dict[str, Any]
    options: dict[str, Any]


def write_report(rehearsal: Rehearsal, path: Path) -> None:
    """The Markdown report, and beside it the raw measurements as JSON (to re-render from)."""
    from benchmarks.rehearsal_report import render_report
    from medinstruct_core.io import write_json, write_text

    raw = json.loads(json.dumps(dataclasses.asdict(rehearsal), default=str))
    write_json(path.with_suffix(".json"), raw)
    write_text(path, render_report(rehearsal))


def load_rehearsal(path: Path) -> Rehearsal:
    """A rehearsal back from its JSON (`python -m benchmarks.rehearse --render X.json`)."""
    raw = json.loads(path.read_text())
    raw["runs"] = [StageRun(**run) for run in raw["runs"]]
    raw["dest"] = Path(raw["dest"])
    return Rehearsal(**raw)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rehearse", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--n", type=int, default=PAPER_TASKS, help="tasks to generate (52000)")
    parser.add_argument("--dir", type=Path, default=None, help="scratch copy (default: a temp dir)")
    parser.add_argument("--report", type=Path, default=ROOT / "reports" / "rehearsal.md")
    parser.add_argument("--latency", type=float, default=0.0, help="endpoint seconds per reply")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="share of 429/5xx replies")
    parser.add_argument("--batch", action="append", default=[], choices=KINDS,
                        help="send this role through the Batch API (repeatable)")  # fmt: skip
    parser.add_argument("--set", action="append", default=[], dest="sets", metavar="KEY=VALUE",
                        help="override a params key, e.g. mcq.limit=2 (repeatable)")  # fmt: skip
    parser.add_argument("--stages", nargs="+", default=[], metavar="STAGE",
                        help="run only these stages (in DAG order; default: all)")  # fmt: skip
    parser.add_argument("--resume", action="store_true",
                        help="go on with the interrupted rehearsal in --dir (measured stages are kept)")  # fmt: skip
    parser.add_argument("--render", type=Path, default=None,
                        help="only re-render --report from a rehearsal's JSON")  # fmt: skip
    parser.add_argument(
        "--past-gate", action="store_true", help="train and evaluate even if the gate fails"
    )
    args = parser.parse_args(argv)
    if args.render is not None:
        write_report(load_rehearsal(args.render), args.report)
        return 0
    return rehearse(args)


def rehearse(args: argparse.Namespace) -> int:
    import yaml

    dest = args.dir or Path(tempfile.mkdtemp(prefix="medinstruct-rehearsal-"))
    if args.resume:
        if not (dest / "params.yaml").exists():
            raise SystemExit(
                f"--resume needs the scratch copy of an earlier rehearsal in --dir ({dest})"
            )
        text = (dest / "params.yaml").read_text()
    else:
        text = rehearsal_params(ROOT, args.n, args.batch, parse_sets(args.sets))
        make_scratch(ROOT, dest, text)
    print(f"rehearse: the paper profile at N={args.n} in {dest}", flush=True)
    sim = Simulator(ROOT, args.latency, args.fault_rate, dest / "simulator.log")
    try:
        runs = run_all(dest, sim, args.past_gate, args.stages)
    finally:
        sim.stop()
    spend, total, budget = ledger_rows(dest)
    options = {k: v for k, v in vars(args).items() if k not in ("dir", "report", "render")}
    options["paper_limits"] = paper_limits(ROOT)
    rehearsal = Rehearsal(args.n, dest, runs, read_metrics(dest), spend, total, budget,
                          endpoint_totals(runs), sim.peak_rss_mb, yaml.safe_load(text), options)  # fmt: skip
    write_report(rehearsal, args.report)
    print(f"rehearse: report in {args.report}", flush=True)
    wanted = [s for s in stage_order(dest) if not args.stages or s in args.stages]
    return 0 if [r.name for r in runs if r.rc == 0] == wanted else 1


if __name__ == "__main__":
    sys.exit(main())
