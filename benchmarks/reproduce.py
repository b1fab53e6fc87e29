"""Reproduce the paper's experiments (Tables 1-3, Fig. 3a) on real MD, from raw files.

Every step is a `neuralmd` command, so the study is also the documented workflow:

1. ``neuralmd prepare`` every reference trajectory into one dataset;
2. single-trajectory protocol (train 0-79, test 80-99) for every method × seed × trajectory:
   ``neuralmd train`` then ``neuralmd evaluate --model ... --data ...`` (static/mean-pose floors);
3. multi-trajectory protocol, leave-one-trajectory-out over the trajectories;
4. RMSF-Ligand curves with ``neuralmd rmsf`` on the written predictions;
5. speed with ``neuralmd benchmark`` (with the OpenMM comparison when OpenMM is installed);
6. ``docs/results.md`` (tables, figures, commands) from the collected JSON.

Usage::

    python benchmarks/reproduce.py                 # the full study (about 2 h on 2 CPU cores)
    python benchmarks/reproduce.py --quick         # 1 trajectory, 1 seed, 1 epoch (CI, minutes)
    python benchmarks/reproduce.py --misato MD.hdf5 --ids 5WIJ,4ZX0  # the same on MISATO

Results land in ``--workdir`` (default ``study/``); the document in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from _study import (  # noqa: E402
    FULL,
    QUICK,
    StudyPlan,
    collect_rmsf,
    write_results,
)

from neuralmd_core.data.store import open_dataset  # noqa: E402

LOG: list[str] = []


def run(cmd: list[str], log_file: Path | None = None) -> str:
    """Run one neuralmd command; return stdout; raise with its stderr on failure."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg")
    LOG.append(shlex.join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        log_file.write_text(proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.stdout


def neuralmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "neuralmd_cli", *args]


def prepare(plan: StudyPlan, shared: Path, work: Path) -> Path:
    """One dataset with every trajectory (names like ``t4l_seed0`` from the folders), plus the
    fine-interval continuations (``t4l_fine_seed0``) when OpenMM is installed."""
    data = work / "data.h5"
    if data.exists():
        return data
    folders = [shared / "refdata" / s / f"seed{k}" for s, k in plan.trajectories]
    folders += [work / "finemd" / f"{s}_fine" / f"seed{k}" for s, k in fine_md(plan, shared, work)]
    tmp = work / "data.tmp.h5"
    for i, d in enumerate(folders):
        extra = ["--append"] if i else ["--force"]
        args = [str(d / "topology.pdb"), str(d / "traj.xtc"), "--ligand", str(d / "ligand.sdf")]
        run(neuralmd("prepare", *args, "-o", str(tmp), *extra))
    tmp.rename(data)
    return data


def _has_openmm(consequence: str) -> bool:
    """Whether the optional extra OpenMM is importable; says what is skipped when it is not."""
    try:
        import openmm  # noqa: F401
    except ImportError:
        print(f"[study] OpenMM not installed: {consequence}", file=sys.stderr)
        return False
    return True


def fine_md(plan: StudyPlan, shared: Path, work: Path) -> list[tuple[str, int]]:
    """Generate the fine-interval trajectories (benchmarks/make_fine_md.py); [] without OpenMM."""
    if not plan.fine_trajectories:
        return []
    if not _has_openmm("no fine-interval trajectories"):
        return []
    systems = sorted({s for s, _ in plan.fine_trajectories})
    seeds = sorted({k for _, k in plan.fine_trajectories})
    cmd = [sys.executable, str(REPO / "benchmarks" / "make_fine_md.py"), "--systems", ",".join(systems),
           "--seeds", ",".join(map(str, seeds)), "--interval-fs", str(plan.fine_interval_fs),
           "--snapshots", "100", "--refdata", str(shared / "refdata"), "--out", str(work / "finemd"),
           "--threads", "1"]  # fmt: skip
    if not all(
        (work / "finemd" / f"{s}_fine" / f"seed{k}" / "traj.xtc").exists()
        for s, k in plan.fine_trajectories
    ):
        run(cmd, work / "finemd.stderr")
    return list(plan.fine_trajectories)


def train_and_evaluate(plan: StudyPlan, data: Path, run_dir: Path, method: str, seed: int,
                       train_args: list[str], write_preds: bool, config: Path) -> dict:  # fmt: skip
    """Train one (method, seed) and evaluate it on its test split; cached in run_dir."""
    result_file = run_dir / "evaluation.json"
    if result_file.exists():
        return json.loads(result_file.read_text())
    run_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    run(neuralmd("train", str(data), "--model", method, "-o", str(run_dir / "run"), "--force",
                 "--seed", str(seed), "--config", str(config), "--no-progress",
                 *train_args), run_dir / "train.stderr")  # fmt: skip
    train_s = time.perf_counter() - t0
    args = ["evaluate", "--model", str(run_dir / "run" / "checkpoints" / "best.pt"),
            "--data", str(data), "--format", "json", "--seed", str(seed),
            "--metrics", "mae,rmse,matching,stability,rmsd,bonds,clashes"]  # fmt: skip
    if plan.sde_samples > 1 and method == "neuralmd-sde":
        args += ["--samples", str(plan.sde_samples)]
    if write_preds:
        args += ["--write-predictions", str(run_dir / "predictions")]
    out = json.loads(run(neuralmd(*args), run_dir / "evaluate.stderr"))
    out["train_s"] = train_s
    result_file.write_text(json.dumps(out, indent=2))
    return out


def single_protocol(plan: StudyPlan, data: Path, work: Path, jobs: int) -> list[dict]:
    tasks = []
    names = [f"{s}_seed{k}" for s, k in plan.trajectories][: plan.single_limit]
    with open_dataset(data) as ds:
        names += [n for n in ds.names() if "_fine_" in n]
    for traj in names:
        for method in plan.methods:
            for seed in plan.seeds:
                run_dir = work / "single" / traj / method / f"seed{seed}"
                args = [
                    "--task",
                    "single",
                    "--trajectory",
                    traj,
                    "--epochs",
                    str(plan.single_epochs),
                ]
                tasks.append((traj, method, seed, run_dir, args, plan.config_path))
    return _run_all(plan, data, tasks, jobs)


def multi_protocol(plan: StudyPlan, data: Path, work: Path, jobs: int) -> list[dict]:
    names = [f"{s}_seed{k}" for s, k in plan.trajectories]
    tasks = []
    for i, held_out in enumerate(names[: plan.multi_folds]):
        val = names[(i + 1) % len(names)]
        split = {
            "train": [n for n in names if n not in (held_out, val)],
            "val": [val],
            "test": [held_out],
        }
        split_file = work / "multi" / f"fold_{held_out}.json"
        split_file.parent.mkdir(parents=True, exist_ok=True)
        split_file.write_text(json.dumps(split, indent=2))
        for method in plan.multi_methods:
            for seed in plan.multi_seeds:
                run_dir = work / "multi" / held_out / method / f"seed{seed}"
                args = ["--task", "multi", "--split-file", str(split_file),
                        "--epochs", str(plan.multi_epochs)]  # fmt: skip
                tasks.append((held_out, method, seed, run_dir, args, plan.multi_config_path))
    return _run_all(plan, data, tasks, jobs)


def _run_all(plan: StudyPlan, data: Path, tasks: list, jobs: int) -> list[dict]:
    def one(task):
        traj, method, seed, run_dir, args, config = task
        write_preds = seed == plan.seeds[0]
        out = train_and_evaluate(plan, data, run_dir, method, seed, args, write_preds, config)
        print(f"[study] {traj} {method} seed {seed}: done ({out.get('train_s', 0):.0f} s train)",
              file=sys.stderr, flush=True)  # fmt: skip
        return {"trajectory": traj, "method": method, "seed": seed, "run_dir": str(run_dir), **out}

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, tasks))


def benchmark(plan: StudyPlan, shared: Path, work: Path, single: list[dict]) -> dict:
    out_file = work / "benchmark.json"
    if out_file.exists():
        return json.loads(out_file.read_text())
    d = shared / "refdata" / plan.bench_system / f"seed{plan.bench_seed}"
    traj = f"{plan.bench_system}_seed{plan.bench_seed}"
    ckpts = [str(Path(r["run_dir"]) / "run" / "checkpoints" / "best.pt") for r in single
             if r["trajectory"] == traj and r["seed"] == plan.seeds[0]]  # fmt: skip
    args = ["benchmark", str(d / "topology.pdb"), str(d / "ligand.sdf"), "--format", "json",
            "--snapshots", str(plan.bench_snapshots), "--batch", plan.bench_batches,
            "--repeats", str(plan.bench_repeats), "--device", "cpu"]  # fmt: skip
    for c in ckpts:
        args += ["--model", c]
    if _has_openmm("no speed-up column"):
        args += ["--openmm-system", str(d / "openmm_system.xml"),
                 "--openmm-integrator", str(d / "openmm_integrator.xml"),
                 "--openmm-state", str(d / "openmm_state.xml"), "--openmm-ps", str(plan.openmm_ps)]  # fmt: skip
    result = json.loads(run(neuralmd(*args), work / "benchmark.stderr"))
    out_file.write_text(json.dumps(result, indent=2))
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="1 trajectory, 1 seed, 1 epoch (CI)")
    p.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    p.add_argument("--workdir", type=Path, default=None)
    p.add_argument(
        "--out", type=Path, default=None, help="results document (default docs/results.md)"
    )
    p.add_argument("--jobs", type=int, default=2, help="parallel training runs")
    args = p.parse_args(argv)
    plan = QUICK if args.quick else FULL
    work = args.workdir or REPO / ("study-quick" if args.quick else "study")
    out = args.out or (work / "results.md" if args.quick else REPO / "docs" / "results.md")
    work.mkdir(parents=True, exist_ok=True)
    plan.write_config(work)
    t0 = time.perf_counter()
    data = prepare(plan, args.shared, work)
    single = single_protocol(plan, data, work, args.jobs)
    multi = multi_protocol(plan, data, work, args.jobs)
    rmsf = collect_rmsf(plan, work, single, out.parent, neuralmd, run)
    bench = benchmark(plan, args.shared, work, single)
    write_results(out, plan, single, multi, rmsf, bench, LOG, time.perf_counter() - t0,
                  " ".join(["python", "benchmarks/reproduce.py", *(argv or sys.argv[1:])]))  # fmt: skip
    print(json.dumps({"results": str(out), "wall_s": time.perf_counter() - t0}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
