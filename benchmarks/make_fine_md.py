#!/usr/bin/env python
"""Finely sampled MD of the reference complexes: continue ``../shared/refdata`` with OpenMM.

The reference trajectories are sampled every 1 ps, where the ligand's positions are already
decorrelated between snapshots (lag-1 autocorrelation of the heavy-atom displacement ~0.06 for
t4l seed0), so no dynamics model can beat the mean pose there. This script continues each
reference trajectory with the exact serialized OpenMM System and integrator
(``openmm_system.xml``, ``openmm_integrator.xml``, ``openmm_state.xml``: frozen pocket shell,
OBC2 implicit solvent, LangevinMiddleIntegrator 300 K, 4 fs with HMR), re-draws the velocities
from a seed at 300 K, equilibrates ``--equilibrate-ps`` and records ``--snapshots`` snapshots
``--interval-fs`` apart (the first at t = 0). Needs the optional extra ``neuralmd[openmm]``.

Per trajectory it writes ``OUT/<system>_fine/seed<k>/``: ``topology.pdb`` (the reference
topology, same atoms and order, coordinates set to snapshot 0), ``traj.xtc`` (nm, time in ps,
no unit cell: the system is non-periodic), ``ligand.sdf`` (the reference ligand's bonds and
hydrogens at the snapshot-0 pose), ``aux.npz`` (copy: ligand and frozen indices) and
``meta.json``. Each folder is written to a temporary folder and renamed into place.
A JSON summary goes to stdout (per trajectory: path, interval_ps, wall_s, ns_per_day and the
lag-1 autocorrelation of the ligand heavy-atom displacement from its mean pose, computed from
the written XTC); progress goes to stderr.

    python benchmarks/make_fine_md.py --systems t4l,11gs --seeds 0,1,2,3 --out /tmp/finemd
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import mdtraj as md
import numpy as np

REPO = Path(__file__).resolve().parents[1]
REFDATA = REPO.parent / "shared" / "refdata"
TEMPERATURE_K = 300.0
COPIED = ("aux.npz",)


def log(msg: str) -> None:
    """Progress line on stderr."""
    print(msg, file=sys.stderr, flush=True)


def lag1_autocorrelation(xyz: np.ndarray) -> float:
    """Lag-1 autocorrelation of the displacement from the mean pose.

    Args:
        xyz: (T, N, 3) positions (any length unit), T >= 2.

    Returns:
        sum(d[:-1] * d[1:]) / sum(d * d) with d = xyz - xyz.mean(0); 1 = frozen motion,
        0 = snapshots uncorrelated.
    """
    d = xyz - xyz.mean(axis=0, keepdims=True)
    den = float((d * d).sum())
    return float((d[:-1] * d[1:]).sum() / den) if den > 0 else float("nan")


def xtc_lag1(seed_dir: Path) -> float:
    """Lag-1 autocorrelation of the ligand heavy atoms, read back from the written files."""
    traj = md.load(str(seed_dir / "traj.xtc"), top=str(seed_dir / "topology.pdb"))
    heavy = np.load(seed_dir / "aux.npz")["ligand_heavy_index"]
    return lag1_autocorrelation(traj.xyz[:, heavy].astype(np.float64))


def make_context(src: Path, threads: int, seed: int):
    """Deserialize System/Integrator/State of a reference trajectory into a CPU context.

    Returns:
        (context, integrator, step_fs, openmm version string).
    """
    import openmm as mm

    def load(name: str):
        return mm.XmlSerializer.deserialize((src / name).read_text())

    system, integ, state = (
        load(n) for n in ("openmm_system.xml", "openmm_integrator.xml", "openmm_state.xml")
    )
    integ.setRandomNumberSeed(seed + 1)  # OpenMM treats 0 as "pick one at random"
    plat = mm.Platform.getPlatformByName("CPU")
    ctx = mm.Context(system, integ, plat, {"Threads": str(threads)})
    ctx.setState(state)
    ctx.setTime(0.0)
    step_fs = integ.getStepSize().value_in_unit(mm.unit.femtosecond)
    return ctx, integ, step_fs, mm.__version__


def steps_per_interval(interval_fs: float, step_fs: float) -> int:
    """Integrator steps between snapshots; the interval must be a whole number of steps."""
    n = int(round(interval_fs / step_fs))
    if n < 1 or abs(n * step_fs - interval_fs) > 1e-6:
        raise SystemExit(f"--interval-fs {interval_fs} is not a multiple of the {step_fs} fs step")
    return n


def simulate(src: Path, seed: int, args: argparse.Namespace) -> tuple[np.ndarray, dict]:
    """Run equilibration + production from a reference trajectory's serialized state.

    Returns:
        (T, n_atoms, 3) float32 positions in nm, and a dict of run facts for meta.json.
    """
    import openmm.unit as u

    ctx, integ, step_fs, version = make_context(src, args.threads, seed)
    n_per = steps_per_interval(args.interval_fs, step_fs)
    ctx.setVelocitiesToTemperature(TEMPERATURE_K * u.kelvin, seed + 1)
    ctx.applyVelocityConstraints(1e-6)
    n_eq = int(round(args.equilibrate_ps * 1000.0 / step_fs))
    t0 = time.time()
    integ.step(n_eq)
    t_eq = time.time() - t0
    snaps = []
    t0 = time.time()
    for k in range(args.snapshots):
        if k > 0:
            integ.step(n_per)
        x = ctx.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(u.nanometer)
        x = np.asarray(x, dtype=np.float32)
        if not np.isfinite(x).all():
            raise RuntimeError(f"{src}: non-finite coordinates at snapshot {k}")
        snaps.append(x)
        if k % 25 == 0 or k == args.snapshots - 1:
            log(f"  snapshot {k:4d}/{args.snapshots}  wall {t_eq + time.time() - t0:7.1f} s")
    t_prod = time.time() - t0
    prod_steps = n_eq + (args.snapshots - 1) * n_per
    ns_day = prod_steps * step_fs * 1e-6 / ((t_eq + t_prod) / 86400.0)
    facts = dict(
        openmm_version=version,
        threads=args.threads,
        timestep_fs=step_fs,
        steps_per_snapshot=n_per,
        equilibration=dict(ps=args.equilibrate_ps, steps=n_eq, seconds=round(t_eq, 2)),
        production_seconds=round(t_prod, 2),
        ns_per_day=round(ns_day, 2),
    )
    return np.stack(snaps), facts


def write_pdb(src_pdb: Path, dst_pdb: Path, xyz_a: np.ndarray) -> None:
    """Copy a PDB, replacing the ATOM/HETATM coordinates (columns 31-54) with ``xyz_a`` (Å)."""
    lines = src_pdb.read_text().splitlines(keepends=True)
    out, k = [], 0
    for line in lines:
        if line.startswith(("ATOM", "HETATM")):
            x, y, z = xyz_a[k]
            line = f"{line[:30]}{x:8.3f}{y:8.3f}{z:8.3f}{line[54:]}"
            k += 1
        out.append(line)
    if k != len(xyz_a):
        raise RuntimeError(f"{src_pdb}: {k} atoms, trajectory has {len(xyz_a)}")
    dst_pdb.write_text("".join(out))


def write_ligand(src_sdf: Path, dst_sdf: Path, lig_index: np.ndarray, xyz_a: np.ndarray) -> None:
    """Write the reference ligand (bonds, hydrogens, atom order) at the pose ``xyz_a[lig_index]``."""
    from rdkit import Chem
    from rdkit.Geometry import Point3D

    mol = Chem.MolFromMolFile(str(src_sdf), removeHs=False, sanitize=False)
    if mol is None or mol.GetNumAtoms() != len(lig_index):
        raise RuntimeError(f"{src_sdf}: atom count differs from aux.npz ligand_index")
    conf = mol.GetConformer()
    for i, p in enumerate(xyz_a[lig_index]):
        conf.SetAtomPosition(i, Point3D(*map(float, p)))
    Chem.MolToMolFile(mol, str(dst_sdf), kekulize=False)


def write_outputs(src: Path, dst: Path, xyz: np.ndarray, interval_ps: float) -> None:
    """Write topology.pdb, traj.xtc, ligand.sdf and the copied files into ``dst``."""
    top = md.load_topology(str(src / "topology.pdb"))
    if top.n_atoms != xyz.shape[1]:
        raise RuntimeError(f"{src}: topology has {top.n_atoms} atoms, OpenMM {xyz.shape[1]}")
    for name in COPIED:
        shutil.copyfile(src / name, dst / name)  # not copy2: refdata files are read-only
    write_pdb(src / "topology.pdb", dst / "topology.pdb", xyz[0] * 10.0)
    times = np.arange(len(xyz), dtype=np.float64) * interval_ps
    md.Trajectory(xyz, top, time=times).save_xtc(str(dst / "traj.xtc"))
    lig = np.load(src / "aux.npz")["ligand_index"]
    write_ligand(src / "ligand.sdf", dst / "ligand.sdf", lig, xyz[0] * 10.0)


def replace_dir(tmp: Path, final: Path) -> None:
    """Move a finished temporary folder to ``final``, replacing an older one."""
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old)


def run_one(system: str, seed: int, args: argparse.Namespace) -> dict:
    """Simulate one reference trajectory into ``OUT/<system>_fine/seed<k>``; return its summary."""
    src = args.refdata / system / f"seed{seed}"
    if not (src / "openmm_system.xml").is_file():
        raise SystemExit(f"{src}: no openmm_system.xml (not a reference trajectory)")
    final = args.out / f"{system}_fine" / f"seed{seed}"
    final.parent.mkdir(parents=True, exist_ok=True)
    log(f"{system} seed{seed}: {args.snapshots} snapshots every {args.interval_fs} fs")
    t0 = time.time()
    xyz, facts = simulate(src, seed, args)
    interval_ps = args.interval_fs / 1000.0
    tmp = Path(tempfile.mkdtemp(prefix=f".seed{seed}.tmp-", dir=final.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it 0700
    try:
        write_outputs(src, tmp, xyz, interval_ps)
        wall = time.time() - t0
        meta = dict(
            source=str(src.resolve()),
            system=system,
            seed=seed,
            velocity_seed=seed + 1,
            integrator_seed=seed + 1,
            temperature_K=TEMPERATURE_K,
            n_snapshots=len(xyz),
            snapshot_interval_fs=args.interval_fs,
            snapshot_interval_ps=interval_ps,
            first_snapshot="end of equilibration (t=0)",
            wall_seconds=round(wall, 2),
            protocol="continue from openmm_state.xml, velocities redrawn at 300 K "
            "(Context.setVelocitiesToTemperature), equilibrate, record",
            **facts,
            units=dict(xtc="nm", pdb="Angstrom", sdf="Angstrom", time="ps"),
        )
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
        replace_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    rho = xtc_lag1(final)
    log(f"{system} seed{seed}: {wall:.1f} s, {facts['ns_per_day']} ns/day, lag-1 {rho:.3f}")
    return dict(
        path=str(final),
        interval_ps=interval_ps,
        wall_s=round(wall, 2),
        ns_per_day=facts["ns_per_day"],
        lag1_autocorrelation=round(rho, 4),
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--systems", default="t4l,11gs", help="comma-separated refdata systems")
    ap.add_argument("--seeds", default="0,1,2,3", help="comma-separated seeds (missing: skipped)")
    ap.add_argument("--snapshots", type=int, default=100)
    ap.add_argument("--interval-fs", type=float, default=40.0, help="snapshot spacing (fs)")
    ap.add_argument("--equilibrate-ps", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=2, help="OpenMM CPU threads (max 2)")
    ap.add_argument("--refdata", type=Path, default=REFDATA)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    if args.snapshots < 2:
        ap.error("--snapshots must be at least 2")
    if not 1 <= args.threads <= 2:
        ap.error("--threads must be 1 or 2 (the machine's cores are shared)")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run every requested (system, seed) one after another; print the JSON summary."""
    args = parse_args(argv)
    try:
        import openmm  # noqa: F401
    except ImportError:
        raise SystemExit("OpenMM is not installed: pip install 'neuralmd[openmm]'") from None
    runs = []
    for system in [s.strip() for s in args.systems.split(",") if s.strip()]:
        for seed in [int(s) for s in args.seeds.split(",") if s.strip()]:
            if not (args.refdata / system / f"seed{seed}").is_dir():
                log(f"{system} seed{seed}: not in {args.refdata}, skipped")
                continue
            runs.append(run_one(system, seed, args))
    print(json.dumps({"interval_fs": args.interval_fs, "trajectories": runs}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
