"""The realism table of ``docs/results.md``: is each method's rollout MD-like?

For every reference trajectory and every method, the single-trajectory protocol of the paper
(``neuralmd train --task single``: train on snapshots 0-79 with the study network of
``benchmarks/reproduce.py``), then ``neuralmd evaluate --metrics realism --snapshots 200``: a
200-snapshot rollout from snapshot 79 compared, without pairing frames, with the whole
reference run (0-99), beside the replica floor (the reference's first half against its second).
The reference predictors ``static`` and ``mean-pose`` are scored beside every model. The paper's
four metrics (test range 80-99, the first 20 snapshots of the same rollout) are reported too.

Usage::

    python benchmarks/realism.py                       # train (cached) + evaluate + docs section
    python benchmarks/realism.py --stage train         # only the training runs
    python benchmarks/realism.py --methods neuralmd-ode --trajectories t4l_seed0

Work folder ``--workdir`` (default ``study/``, shared with ``reproduce.py``: same data and run
layout); the section between ``<!-- realism:begin -->`` and ``<!-- realism:end -->`` of
``--out`` (default ``docs/results.md``) is replaced.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from _study import FULL, REALISM_BEGIN, REALISM_END  # noqa: E402
from reproduce import neuralmd, prepare, run  # noqa: E402

TRAINED = ("neuralmd-ode", "neuralmd-sde", "gnn-md", "denoising-ld", "verlet-md")
BEGIN, END = REALISM_BEGIN, REALISM_END
#: (column, header) of the table; each value is followed by its replica floor where one exists
COLUMNS = (
    ("bond_err_A", "bond err (Å)"),
    ("collapse_ps", "collapse (ps)"),
    ("rmsf_ratio", "RMSF ratio"),
    ("msd_ratio_lag1", "MSD ratio lag 1"),
    ("msd_ratio_lag10", "MSD ratio lag 10"),
    ("jsd_pairs", "JSD pairs"),
    ("jsd_centroid", "JSD centroid"),
    ("jsd_torsions", "JSD torsions"),
    ("centroid_max_A", "centroid max (Å)"),
    ("contact_err", "contact err"),
    ("clash_pct", "clash (%)"),
)
PAPER = (("mae_A", "MAE (Å)"), ("rmse_A", "RMSE (Å)"), ("matching_A", "Matching (Å)"),
         ("stability_pct", "Stability (%)"))  # fmt: skip


def train_one(data: Path, work: Path, traj: str, method: str, seed: int) -> Path:
    """``neuralmd train`` (single task) for one (trajectory, method, seed); cached."""
    run_dir = work / "single" / traj / method / f"seed{seed}"
    ckpt = run_dir / "run" / "checkpoints" / "best.pt"
    if ckpt.exists():
        return ckpt
    t0 = time.perf_counter()
    run(neuralmd("train", str(data), "--model", method, "-o", str(run_dir / "run"), "--force",
                 "--seed", str(seed), "--config", str(FULL.config_path), "--no-progress",
                 "--task", "single", "--trajectory", traj, "--epochs", str(FULL.single_epochs)),
        run_dir / "train.stderr")  # fmt: skip
    (run_dir / "train_s.txt").write_text(f"{time.perf_counter() - t0:.1f}\n")
    print(f"[realism] trained {traj} {method} seed {seed} in {time.perf_counter() - t0:.0f} s",
          file=sys.stderr, flush=True)  # fmt: skip
    return ckpt


def evaluate_one(data: Path, ckpt: Path, seed: int, snapshots: int, plot: Path | None) -> dict:
    """``neuralmd evaluate --metrics realism,...`` of one checkpoint; cached next to it."""
    out_file = ckpt.parents[2] / "realism.json"
    if out_file.exists():
        return json.loads(out_file.read_text())
    args = ["evaluate", "--model", str(ckpt), "--data", str(data), "--format", "json",
            "--seed", str(seed), "--snapshots", str(snapshots),
            "--metrics", "realism,mae,rmse,matching,stability"]  # fmt: skip
    if plot is not None:
        args += ["--plot", str(plot)]
    out = json.loads(run(neuralmd(*args), ckpt.parents[2] / "realism.stderr"))
    out_file.write_text(json.dumps(out, indent=2))
    return out


def _cell(value, floor=None) -> str:
    text = "null" if value is None else f"{value:.3f}"
    if floor is not None or value is not None:
        text += " / " + ("null" if floor is None else f"{floor:.3f}")
    return text


def table(results: dict[str, list[dict]]) -> list[str]:
    """Markdown tables, one per trajectory: realism (value / floor) and the paper's metrics."""
    lines = []
    for traj, rows in results.items():
        lines += [f"### {traj}", "",
                  "| method | " + " | ".join(h for _, h in COLUMNS + PAPER) + " |",
                  "|" + "---|" * (len(COLUMNS) + len(PAPER) + 1)]  # fmt: skip
        for row in rows:
            cells = [_cell(row.get(c), row.get(f"floor_{c}")) for c, _ in COLUMNS]
            cells += ["–" if row.get(c) is None else f"{row[c]:.3f}" for c, _ in PAPER]
            lines.append(f"| {row['method']} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def write_section(out: Path, body: list[str]) -> None:
    """Replace (or append) the marked realism section of ``out``."""
    text = out.read_text() if out.exists() else ""
    section = "\n".join([BEGIN, *body, END])
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    out.write_text(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    p.add_argument("--workdir", type=Path, default=REPO / "study")
    p.add_argument("--out", type=Path, default=REPO / "docs" / "results.md")
    p.add_argument("--stage", choices=("train", "all"), default="all")
    p.add_argument("--methods", default=",".join(TRAINED))
    p.add_argument("--trajectories", default=None, help="default: every refdata trajectory")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--snapshots", type=int, default=200)
    args = p.parse_args(argv)
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    FULL.write_config(work)
    FULL.fine_trajectories = []  # the realism table is on the 1-ps reference runs
    data = prepare(FULL, args.shared, work)
    trajs = (args.trajectories.split(",") if args.trajectories
             else [f"{s}_seed{k}" for s, k in FULL.trajectories])  # fmt: skip
    methods = args.methods.split(",")
    t0 = time.perf_counter()
    ckpts = {(t, m): train_one(data, work, t, m, args.seed) for t in trajs for m in methods}
    if args.stage == "train":
        return 0
    fig_dir = args.out.parent / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[dict]] = {}
    for (traj, method), ckpt in ckpts.items():
        plot = fig_dir / f"realism_{traj}.png" if method == "neuralmd-ode" else None
        out = evaluate_one(data, ckpt, args.seed, args.snapshots, plot)
        rows = results.setdefault(traj, [])
        for row in out["results"]:
            if row.get("model") == "reference" and any(r["method"] == row["method"] for r in rows):
                continue
            rows.append(row)
    intro = [
        "## Realism: is the rollout MD-like? (`benchmarks/realism.py`)", "",
        "Single-trajectory protocol, seed " + str(args.seed) + ", study network: train on 0–79, roll "
        f"out {args.snapshots} snapshots from snapshot 79 and compare with the whole reference run "
        "(0–99) by `neuralmd evaluate --metrics realism` (definitions in `docs/metrics.md`). Each "
        "realism cell is **value / replica floor**, the floor being the same figure for the "
        "reference's first half against its second half (what independent MD achieves). MD-like "
        "means: bond err ≈ the floor (≤ 0.05 Å), collapse null, RMSF and MSD ratios near 1 (the "
        "floor's ratios show how much two halves of one run differ), JSDs at or below the floor, "
        "no clash. A frozen ligand shows as ratios near 0; an exploding one as a collapse time, "
        "large bond errors and centroid excursions. The paper's four metrics are on the first 20 "
        "snapshots of the same rollout (the test range 80–99).", "",
        f"Wall time of this invocation: {time.perf_counter() - t0:.0f} s (runs cached in the work "
        "folder are not repeated; one training run takes 15–60 s on the 2-core machine).", "",
    ]  # fmt: skip
    figs = [f"![realism, {t}](figures/realism_{t}.png)" for t in trajs
            if (fig_dir / f"realism_{t}.png").exists()]  # fmt: skip
    body = intro + table(results) + figs + ["", "Commands (per trajectory TRAJ and method METHOD; "
            "work folder `study/`):", "", "```",
            "neuralmd prepare TOPOLOGY.pdb TRAJ.xtc --ligand LIGAND.sdf -o study/data.h5 --append",
            "neuralmd train study/data.h5 --model METHOD --task single --trajectory TRAJ --seed 0 "
            f"--config study/study.yaml --epochs {FULL.single_epochs} -o RUN",
            "neuralmd evaluate --model RUN/checkpoints/best.pt --data study/data.h5 --format json "
            f"--seed 0 --snapshots {args.snapshots} --metrics realism,mae,rmse,matching,stability "
            "[--plot docs/figures/realism_TRAJ.png]", "```"]  # fmt: skip
    write_section(args.out, body)
    (work / "realism_results.json").write_text(json.dumps(results, indent=2))
    print(json.dumps({"results": str(args.out), "trajectories": len(results)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
