"""The MD-like neuralmd-sde study (issue 13): every refdata trajectory × seeds, single-trajectory
protocol, realism beside the replica floor and the targets.

Per trajectory TRAJ and seed SEED (work folder WORK, dataset WORK/data.h5 from ``neuralmd prepare``
of every ``../shared/refdata/*/seed*``; config ``benchmarks/md_like.yaml``)::

    neuralmd train WORK/data.h5 --model neuralmd-sde --task single --trajectory TRAJ --seed SEED \
        --config benchmarks/md_like.yaml -o WORK/TRAJ_sSEED
    neuralmd evaluate --model WORK/TRAJ_sSEED/checkpoints/last.pt --data WORK/data.h5 \
        --format json --seed SEED --snapshots 200 --metrics realism,mae,rmse,matching,stability \
        > WORK/TRAJ_sSEED.eval.json

``python benchmarks/md_like.py WORK`` runs what is missing (``--summary`` only tabulates) and prints
the markdown table of docs/results.md's MD-like section to stdout.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

TRAJECTORIES = (
    "t4l_seed0",
    "t4l_seed1",
    "t4l_seed2",
    "t4l_seed3",
    "t4l_ff14sb_seed0",
    "11gs_seed0",
)
CONFIG = Path(__file__).with_name("md_like.yaml")
#: column → (lower, upper) target; "floor" = at most the replica floor
TARGETS = {
    "bond_err_A": (None, 0.05), "collapse_ps": "null", "rmsf_ratio": (0.8, 1.25),
    "msd_ratio_lag1": (0.67, 1.5), "msd_ratio_lag10": (0.67, 1.5), "jsd_pairs": "floor",
    "jsd_centroid": "floor", "jsd_torsions": "floor", "centroid_max_A": (None, 3.0),
    "clash_pct": (None, 0.0),
}  # fmt: skip


def _run(work: Path, traj: str, seed: int) -> None:
    run = work / f"{traj}_s{seed}"
    out = work / f"{traj}_s{seed}.eval.json"
    if out.exists():
        return
    t0 = time.time()
    subprocess.run(["neuralmd", "train", str(work / "data.h5"), "--model", "neuralmd-sde",
                    "--task", "single", "--trajectory", traj, "--seed", str(seed), "--config",
                    str(CONFIG), "-o", str(run), "--force"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    train_s = time.time() - t0
    res = subprocess.run(["neuralmd", "evaluate", "--model", str(run / "checkpoints/last.pt"),
                          "--data", str(work / "data.h5"), "--format", "json", "--seed", str(seed),
                          "--snapshots", "200", "--metrics", "realism,mae,rmse,matching,stability"],
                         check=True, capture_output=True, text=True)  # fmt: skip
    data = json.loads(res.stdout)
    data["train_s"] = train_s
    out.write_text(json.dumps(data))


def _ok(col: str, value, floor) -> bool:
    target = TARGETS[col]
    if target == "null":
        return value is None
    if value is None:
        return target == "floor"  # no torsions: nothing to score
    if target == "floor":
        return floor is not None and value <= floor
    lo, hi = target
    return (lo is None or value >= lo) and value <= hi


def _fmt(v) -> str:
    return "null" if v is None else f"{v:.3f}"


def summary(work: Path, seeds) -> str:
    """Markdown: one row per (trajectory, seed), value / floor, ✗ where a target is missed."""
    cols = list(TARGETS)
    paper = ("mae_A", "rmse_A", "matching_A", "stability_pct")
    lines = ["| trajectory | seed | train (s) | " + " | ".join(cols + list(paper)) + " |",
             "|---" * (len(cols) + len(paper) + 3) + "|"]  # fmt: skip
    met = total = 0
    for traj in TRAJECTORIES:
        for seed in seeds:
            path = work / f"{traj}_s{seed}.eval.json"
            if not path.exists():
                lines.append(f"| {traj} | {seed} | not run |" + " |" * (len(cols) + len(paper)))
                continue
            data = json.loads(path.read_text())
            row = next(r for r in data["results"] if r["method"] == "neuralmd-sde")
            side = work / f"{traj}_s{seed}.json"  # written by a shell driver of the same commands
            if "train_s" not in data and side.exists():
                data["train_s"] = json.loads(side.read_text())["train_s"]
            cells = []
            for c in cols:
                ok = _ok(c, row.get(c), row.get(f"floor_{c}"))
                met, total = met + ok, total + 1
                floor = row.get(f"floor_{c}")
                text = _fmt(row.get(c)) + (f" / {_fmt(floor)}" if floor is not None else "")
                cells.append(text + ("" if ok else " ✗"))
            cells += [_fmt(row.get(c)) for c in paper]
            lines.append(
                f"| {traj} | {seed} | {data.get('train_s', 0):.0f} | " + " | ".join(cells) + " |"
            )
    lines.append("")
    lines.append(f"Targets met: {met} of {total} cells (✗ marks a miss).")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("work", type=Path)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--summary", action="store_true", help="only tabulate what exists")
    ap.add_argument("--write", type=Path, help="replace the md-like section of this file "
                    "(docs/results.md) with the table, between its markers")  # fmt: skip
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    if not args.summary:
        for seed in seeds:
            for traj in TRAJECTORIES:
                _run(args.work, traj, seed)
    table = summary(args.work, seeds)
    print(table)
    if args.write is not None:
        _write(args.write, table)
    return 0


def _write(path: Path, table: str) -> None:
    begin, end = "<!-- md-like:begin -->", "<!-- md-like:end -->"
    text = path.read_text()
    if begin not in text or end not in text:
        raise SystemExit(f"{path}: no {begin} … {end} section to replace")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    marker = "<!-- md-like:table -->"
    body = rest.split(end, 1)[0]
    if marker in body:
        pre, post = body.split(marker, 1)
        post = post.split("<!-- md-like:table-end -->", 1)[-1]
        body = f"{pre}{marker}\n{table}\n<!-- md-like:table-end -->{post}"
    path.write_text(head + begin + body + end + tail)


if __name__ == "__main__":
    sys.exit(main())
