#!/usr/bin/env python
"""Throughput and memory of ``neuralmd prepare --misato`` on a >= 1,000-complex file.

Builds a MISATO ``MD.hdf5``-layout file in a temporary folder from the real 11GS record
(``../shared/misato/fixtures/11GS_md_layout_1frame.hdf5``: 6,600 atoms incl. H): a few base
records with 100 snapshots each (the real frame plus 0.3 Å Gaussian noise, gzip-compressed
like MISATO's own files, with ``frames_interaction_energy``), then ``--complexes`` groups under
new IDs that hard-link to those datasets (HDF5 hard links: every group is read and
decompressed in full by the reader, but the file stays small). Runs ``neuralmd prepare
--misato`` as a subprocess and prints JSON on stdout: complexes/s and the peak RSS of the child
(``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``: the largest single process, i.e. the
prepare process or one reader worker). On a shared machine wall-clock throughput depends on the
load, so the CPU seconds per complex (prepare process plus its workers, import time included)
and the throughput they imply on two free cores are reported too.

    python benchmarks/prepare_scale.py [--complexes 1000] [--bases 5] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO.parent / "shared" / "misato" / "fixtures" / "11GS_md_layout_1frame.hdf5"


def build(path: Path, complexes: int, bases: int, frames: int = 100) -> None:
    """Write the benchmark input: ``bases`` real-size records, ``complexes`` linked IDs."""
    with h5py.File(FIXTURE, "r") as src, h5py.File(path, "w") as dst:
        rec = src["11GS"]
        base_groups = []
        for b in range(bases):
            g = dst.create_group(f"_base{b}")
            for key in rec:
                if key != "trajectory_coordinates":
                    g.create_dataset(key, data=rec[key][()], compression="gzip")
            rng = np.random.default_rng(b)
            x0 = rec["trajectory_coordinates"][0]
            traj = x0[None] + rng.normal(scale=0.3, size=(frames, *x0.shape))
            # as MISATO writes it: gzip with h5py's automatic chunking
            g.create_dataset("trajectory_coordinates", data=traj, compression="gzip")
            g.create_dataset(
                "frames_interaction_energy", data=rng.normal(-30, 3, frames), compression="gzip"
            )
            base_groups.append(g)
        for i in range(complexes):
            g = dst.create_group(f"B{i:04d}")
            for key, ds in base_groups[i % bases].items():
                g[key] = ds  # hard link
        for b in range(bases):
            del dst[f"_base{b}"]  # the data stay reachable through the links


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--complexes", type=int, default=1000)
    ap.add_argument("--bases", type=int, default=5)
    ap.add_argument("--keep", type=Path, default=None, help="build here and keep the files")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nmd_prepare_scale_")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    try:
        src, out = work / "MD_layout.hdf5", work / "prepared.h5"
        t0 = time.perf_counter()
        build(src, args.complexes, args.bases)
        t_build = time.perf_counter() - t0
        exe = Path(sys.executable).with_name("neuralmd")
        cmd = [str(exe), "prepare", "--misato", str(src), "-o", str(out), "-q", "-f"]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        elapsed = time.perf_counter() - t0
        if proc.returncode != 0:
            sys.exit(f"prepare failed ({proc.returncode}): {proc.stderr.strip()}")
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        rss_kb, cpu_s = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
        print(json.dumps({
            "complexes": args.complexes,
            "atoms_per_complex": 6600,
            "snapshots_per_complex": 100,
            "build_s": round(t_build, 2),
            "prepare_s": round(elapsed, 2),
            "complexes_per_s": round(args.complexes / elapsed, 2),
            "peak_rss_MB": round(rss_kb / 1024, 1),
            "cpu_s_per_complex": round(cpu_s / args.complexes, 4),
            "est_complexes_per_s_2_free_cores": round(2 * args.complexes / cpu_s, 1),
            "load_average_1min": round(os.getloadavg()[0], 2),
            "input_MB": round(src.stat().st_size / 2**20, 1),
            "output_MB": round(out.stat().st_size / 2**20, 1),
            "cpu_count": os.cpu_count(),
        }, indent=2))  # fmt: skip
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
