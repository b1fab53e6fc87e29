"""Plan, RMSF collection and the results document of ``benchmarks/reproduce.py``."""

from __future__ import annotations

import json
import platform
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import yaml

PAPER_METRICS = (("mae_A", "MAE (Å)"), ("rmse_A", "RMSE (Å)"), ("matching_A", "Matching (Å)"),
                 ("stability_pct", "Stability (%)"))  # fmt: skip
EXTRA_METRICS = (("rmsd_A", "RMSD (Å)"), ("rmsf_err_A", "RMSF err (Å)"), ("bond_dev_A", "bond dev (Å)"),
                 ("clash_pct", "clash (%)"))  # fmt: skip
REALISM_BEGIN, REALISM_END = "<!-- realism:begin -->", "<!-- realism:end -->"
MDLIKE_BEGIN, MDLIKE_END = "<!-- md-like:begin -->", "<!-- md-like:end -->"
#: sections of docs/results.md written by other scripts (realism.py, md_like.py), kept on re-render
KEPT_SECTIONS = ((REALISM_BEGIN, REALISM_END), (MDLIKE_BEGIN, MDLIKE_END))
LEARNED_BASELINES = ("gnn-md", "denoising-ld", "verlet-md")
NEURALMD = ("neuralmd-ode", "neuralmd-sde")


@dataclass
class StudyPlan:
    """What the study runs. The network is smaller than the paper's so that the full study
    (5 trained methods × 3 seeds × 6 trajectories + leave-one-out) fits 2 h on 2 CPU cores."""

    trajectories: list[tuple[str, int]]
    methods: list[str]
    seeds: list[int]
    single_epochs: int
    multi_methods: list[str]
    multi_seeds: list[int]
    multi_folds: int
    multi_epochs: int
    network: dict
    train: dict = field(default_factory=dict)
    multi_train: dict = field(default_factory=dict)
    sde_samples: int = 8
    fine_trajectories: list[tuple[str, int]] = field(default_factory=list)
    single_limit: int | None = None  # single protocol on the first N trajectories only (quick)
    fine_interval_fs: int = 100
    bench_system: str = "t4l"
    bench_seed: int = 0
    bench_snapshots: int = 100
    bench_batches: str = "1,8,32"
    bench_repeats: int = 3
    openmm_ps: float = 2.0
    config_path: Path = Path("study.yaml")
    multi_config_path: Path = Path("study_multi.yaml")

    def write_config(self, work: Path) -> None:
        self.config_path = work / "study.yaml"
        self.config_path.write_text(yaml.safe_dump({"network": self.network, **self.train}))
        self.multi_config_path = work / "study_multi.yaml"
        self.multi_config_path.write_text(
            yaml.safe_dump({"network": self.network, **self.multi_train})
        )


ALL_TRAJ = [("t4l", 0), ("t4l", 1), ("t4l", 2), ("t4l", 3), ("11gs", 0), ("t4l_ff14sb", 0)]
ALL_METHODS = [
    "neuralmd-ode",
    "neuralmd-sde",
    "gnn-md",
    "denoising-ld",
    "verlet-md",
    "static",
    "mean-pose",
]

FULL = StudyPlan(
    trajectories=ALL_TRAJ, methods=ALL_METHODS, seeds=[0, 42, 123], single_epochs=6,
    multi_methods=["neuralmd-ode", "neuralmd-sde", "gnn-md", "denoising-ld", "verlet-md"],
    multi_seeds=[0], multi_folds=len(ALL_TRAJ), multi_epochs=6,
    network={"hidden": 32, "num_radial": 16, "num_ligand_layers": 2, "num_complex_layers": 1},
    train={"batch_size": 4, "lr": 1e-3, "horizon": 8},
    multi_train={"batch_size": 1, "lr": 1e-3, "horizon": 20},
    fine_trajectories=[("t4l", 0), ("t4l", 1)],
)  # fmt: skip

QUICK = StudyPlan(
    trajectories=[("t4l", 0), ("t4l", 1), ("t4l", 2)], methods=ALL_METHODS, seeds=[0], single_limit=1,
    single_epochs=1, multi_methods=["neuralmd-ode"], multi_seeds=[0], multi_folds=1,
    multi_epochs=1, sde_samples=2,
    network={"hidden": 16, "num_radial": 8, "num_ligand_layers": 1, "num_complex_layers": 1},
    train={"batch_size": 8, "lr": 1e-3, "horizon": 2},
    multi_train={"batch_size": 2, "lr": 1e-3, "horizon": 5},
    bench_snapshots=10, bench_batches="1,4", bench_repeats=1, openmm_ps=0.2,
)  # fmt: skip


def collect_rmsf(
    plan: StudyPlan, work: Path, single: list[dict], fig_dir: Path, neuralmd, run
) -> dict:
    """RMSF curves (seed 0 predictions) per trajectory via ``neuralmd rmsf``: figure + errors.

    Returns ``{trajectory: {"figure": path, "curves": {label: [rmsf...]}, "error": {method: Å}}}``.
    """
    out: dict[str, dict] = {}
    fig_dir = Path(fig_dir) / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    seed0 = [r for r in single if r["seed"] == plan.seeds[0]]
    for traj in dict.fromkeys(r["trajectory"] for r in seed0):
        runs = {
            r["method"]: Path(r["run_dir"]) / "predictions"
            for r in seed0
            if r["trajectory"] == traj
        }
        ref = next(iter(runs.values())) / "reference" / f"{traj}.xtc"
        files, labels = [ref], ["ground truth"]
        for method, folder in runs.items():
            pred = folder / method / f"{traj}.xtc"
            if pred.exists():
                files.append(pred)
                labels.append(method)
        fig = fig_dir / f"rmsf_{traj}.png"
        text = run(neuralmd("rmsf", *map(str, files), "--labels", ",".join(labels), "--plot", str(fig),
                            "--csv", str(work / f"rmsf_{traj}.csv"), "--format", "json"))  # fmt: skip
        rows = json.loads(text)
        rows = rows.get("results", rows) if isinstance(rows, dict) else rows
        curves: dict[str, list[float]] = {}
        for row in rows:
            curves.setdefault(row["label"], []).append(float(row["rmsf_A"]))
        truth = curves["ground truth"]
        errors = {m: statistics.fmean(abs(a - b) for a, b in zip(c, truth)) for m, c in curves.items()
                  if m != "ground truth"}  # fmt: skip
        out[traj] = {"figure": fig, "curves": curves, "error": errors,
                     "truth_mean": statistics.fmean(truth)}  # fmt: skip
    return out


def _rows(result: dict) -> list[dict]:
    return result.get("results", []) if isinstance(result, dict) else result


def gather(runs: list[dict], rmsf: dict | None = None) -> dict:
    """{trajectory: {method_label: {metric: [values over seeds]}}} from evaluate JSON outputs.

    Trained methods contribute their own rows; the reference predictors scored beside them
    (``model == "reference"``) are taken from one run per trajectory, unless they were trained.
    """
    table: dict[str, dict[str, dict[str, list[float]]]] = {}
    trained = {(r["trajectory"], r["method"]) for r in runs}
    ref_run: dict[str, tuple] = {}
    for r in runs:
        traj = r["trajectory"]
        ref_run.setdefault(traj, (r["method"], r["seed"]))
        for row in _rows(r):
            is_ref = row.get("model") == "reference"
            if is_ref and (
                (traj, row["method"]) in trained or ref_run[traj] != (r["method"], r["seed"])
            ):
                continue
            cell = table.setdefault(traj, {}).setdefault(row["method"], {})
            for key, _ in PAPER_METRICS + EXTRA_METRICS:
                if row.get(key) is not None:
                    cell.setdefault(key, []).append(float(row[key]))
            err = (rmsf or {}).get(traj, {}).get("error", {}).get(row["method"])
            if err is not None and not is_ref and r["seed"] == min(x["seed"] for x in runs):
                cell.setdefault("rmsf_err_A", []).append(err)
    return table


def _fmt(values: list[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.fmean(values):.3f} ± {statistics.stdev(values):.3f}"


def _table(cells: dict[str, dict[str, list[float]]], metrics) -> list[str]:
    head = "| method | " + " | ".join(name for _, name in metrics) + " |"
    lines = [head, "|" + "---|" * (len(metrics) + 1)]
    for method, cell in cells.items():
        lines.append(
            f"| {method} | " + " | ".join(_fmt(cell.get(k, [])) for k, _ in metrics) + " |"
        )
    return lines


def bar_checks(
    cells: dict[str, dict[str, list[float]]], rmsf_truth: float | None, rmsf_err: dict
) -> list[str]:
    """The study's bar, per NeuralMD variant: met or not, with the numbers."""
    out = []

    def mean(m, k):
        v = cells.get(m, {}).get(k, [])
        return statistics.fmean(v) if v else float("nan")

    for nm in [m for m in cells if m.startswith(NEURALMD)]:
        beats_floor = all(mean(nm, k) < mean("mean-pose", k) for k in ("mae_A", "rmse_A"))
        err = rmsf_err.get(nm)
        rmsf_ok = rmsf_truth is not None and err is not None and err <= 0.25 * rmsf_truth
        lose = [b for b in LEARNED_BASELINES if b in cells and not (
            mean(nm, "mae_A") < mean(b, "mae_A") and mean(nm, "rmse_A") < mean(b, "rmse_A")
            and mean(nm, "matching_A") < mean(b, "matching_A")
            and mean(nm, "stability_pct") > mean(b, "stability_pct"))]  # fmt: skip
        rmsf_text = (
            f"{err:.3f} Å vs truth mean {rmsf_truth:.3f} Å"
            if err is not None and rmsf_truth
            else "n/a"
        )
        out.append(f"- **{nm}**: beats mean-pose on MAE and RMSE: {'yes' if beats_floor else 'NO'}; "
                   f"RMSF within 25%: {'yes' if rmsf_ok else 'NO'} ({rmsf_text}); beats every learned "
                   f"baseline on all four paper metrics: {'yes' if not lose else 'NO (not ' + ', '.join(lose) + ')'}")  # fmt: skip
    return out


def write_results(
    out: Path, plan: StudyPlan, single, multi, rmsf, bench, log, wall_s, command
) -> None:
    """Write the results document (markdown) from everything the study collected."""
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# Results: the paper's protocols on real reference MD", "",
             "Generated by `" + command + f"` in {wall_s / 60:.1f} min on "
             f"{platform.machine()} ({platform.processor() or 'cpu'}), Python {platform.python_version()}. "
             "Data: `../shared/refdata` (OpenMM, AMBER, implicit solvent, 300 K, 100 snapshots 1 ps apart). "
             "Metrics as in the paper (spec §6): MAE = mean per-atom L1 norm, \"RMSE\" = mean per-atom "
             "distance, Matching = RMS of distance-matrix differences, Stability = % pairs within 0.5 Å; "
             "plus textbook RMSD and the RMSF error = mean |RMSF_pred − RMSF_true| over 5-snapshot windows. "
             "Values are mean ± std over seeds " + ", ".join(map(str, plan.seeds)) + ".", "",
             "Study network (smaller than the paper's so the study fits 2 h on 2 CPU cores): `"
             + json.dumps(plan.network) + "`, training `" + json.dumps(plan.train)
             + f"`, {plan.single_epochs} epochs (single), {plan.multi_epochs} epochs (multi).", ""]  # fmt: skip
    discussion = Path(__file__).with_name("results_discussion.md")
    table = gather(single, rmsf)
    lines += ["## Single-trajectory protocol (train snapshots 0–79, test 80–99)", ""]
    for traj, cells in table.items():
        note = (
            f" — {plan.fine_interval_fs} fs snapshots (benchmarks/make_fine_md.py)"
            if "_fine_" in traj
            else " — 1 ps snapshots"
        )
        lines += [f"### {traj}{note}", ""] + _table(cells, PAPER_METRICS + EXTRA_METRICS) + [""]
        info = rmsf.get(traj)
        if info:
            rel = (
                Path(info["figure"]).relative_to(out.parent)
                if Path(info["figure"]).is_relative_to(out.parent)
                else info["figure"]
            )
            lines += bar_checks(cells, info["truth_mean"], info["error"]) + [""]
            lines += [f"![RMSF-Ligand, {traj}]({rel})", ""]
    lines += [
        "## Multi-trajectory protocol (leave one trajectory out; roll out 1–99 from snapshot 0)",
        "",
    ]
    for traj, cells in gather(multi).items():
        lines += (
            [f"### held out: {traj}", ""] + _table(cells, PAPER_METRICS + EXTRA_METRICS[:1]) + [""]
        )
    lines += _bench_section(bench)
    if discussion.exists():
        lines += ["## Discussion", "", discussion.read_text().strip(), ""]
    lines += ["## How each number is made", "", "```",
              "python benchmarks/make_fine_md.py --systems t4l --seeds 0,1 --interval-fs 100 --out WORK/finemd",
              "neuralmd prepare TOPOLOGY.pdb TRAJ.xtc --ligand LIGAND.sdf -o WORK/data.h5 --append   # each trajectory",
              "neuralmd train WORK/data.h5 --model METHOD --task single --trajectory TRAJ --seed SEED "
              "--config WORK/study.yaml --epochs E -o RUN",
              "neuralmd train WORK/data.h5 --model METHOD --task multi --split-file FOLD.json --seed 0 "
              "--config WORK/study_multi.yaml --epochs E -o RUN",
              "neuralmd evaluate --model RUN/checkpoints/best.pt --data WORK/data.h5 --format json --seed SEED "
              "--metrics mae,rmse,matching,stability,rmsd,bonds,clashes [--samples 8] [--write-predictions DIR]",
              "neuralmd rmsf DIR/reference/TRAJ.xtc DIR/METHOD/TRAJ.xtc ... --labels ... --plot FIG.png --csv CSV",
              "neuralmd benchmark TOPOLOGY.pdb LIGAND.sdf --model CKPT ... --batch 1,8,32 --openmm-system ... "
              "--openmm-integrator ... --openmm-state ... --format json",
              "```", "", "Commands run by the last invocation (earlier steps are cached in the work folder):",
              "", "```"] + log + ["```", ""]  # fmt: skip
    previous = out.read_text() if out.exists() else ""
    for begin, end in KEPT_SECTIONS:
        if begin in previous and end in previous:
            kept = previous.split(begin, 1)[1].split(end, 1)[0]
            lines += [begin + kept + end, ""]
    out.write_text("\n".join(lines))


def _bench_section(bench: dict) -> list[str]:
    rows = bench.get("results", []) if isinstance(bench, dict) else []
    machine = bench.get("meta", {}).get("machine", {}) if isinstance(bench, dict) else {}
    lines = ["## Speed (`neuralmd benchmark`)", "", f"Machine: `{json.dumps(machine)}`. The models ran "
             "with one torch thread (the study sets OMP_NUM_THREADS=1), OpenMM's CPU platform with its "
             "default threads, in the same run on the same complex (t4l seed 0, 100 snapshots; MD: the "
             "reference's own System/Integrator/State, 4 fs steps). Trained checkpoints of seed 0 "
             "(study network).", "",
             "| model | method | batch | FPS (median) | FPS range | model s/ps | MD s/ps | speed-up |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        md = r.get("md_s_per_ps")
        lines.append(f"| {r['model']} | {r['method']} | {r['batch']} | {r['fps']:.1f} | "
                     f"{r['fps_min']:.1f}–{r['fps_max']:.1f} | {r['model_s_per_ps']:.4f} | "
                     f"{md:.3f} | {r.get('speedup', float('nan')):.1f}× |" if md else
                     f"| {r['model']} | {r['method']} | {r['batch']} | {r['fps']:.1f} | "
                     f"{r['fps_min']:.1f}–{r['fps_max']:.1f} | {r['model_s_per_ps']:.4f} | – | – |")  # fmt: skip
    return lines + [""]
