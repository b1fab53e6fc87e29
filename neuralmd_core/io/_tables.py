"""Per-snapshot CSV tables next to trajectories: times (ps) and energy labels (kcal/mol)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from neuralmd_core import keys
from neuralmd_core.errors import InputError
from neuralmd_core.io._files import check_file

TIME_TABLES = ("energies.csv", "interaction_energy.csv")
ENERGY_TABLE = "interaction_energy.csv"


def read_table(path: str | Path) -> dict[str, list[str]]:
    """A CSV file as ``{column: values}`` (InputError on an unreadable or empty table)."""
    p = check_file(path)
    try:
        with open(p, newline="") as fh:
            rows = list(csv.DictReader(fh))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(p, f"not a CSV table ({type(exc).__name__})") from exc
    if not rows or not rows[0]:
        raise InputError(p, "CSV table has no rows")
    return {c.strip(): [r[c] for r in rows] for c in rows[0] if c is not None}


def _floats(path: Path, column: str, values: list[str]) -> np.ndarray:
    try:
        out = np.array([float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(path, f"column {column!r} has non-numeric values") from exc
    if not np.isfinite(out).all():
        raise InputError(path, f"column {column!r} contains NaN/inf")
    return out


def energy_column(path: Path, table: dict[str, list[str]]) -> tuple[str, float]:
    """Pick the energy column and its factor to kcal/mol from the unit in its name.

    Names containing ``kj`` are kJ/mol, ``kcal`` kcal/mol; a column mentioning
    ``interaction`` wins over others.
    """
    found = []
    for col in table:
        low = col.lower().replace("/", "").replace("_", "")
        if "kcal" in low:
            found.append((col, 1.0))
        elif "kj" in low:
            found.append((col, 1.0 / keys.KJ_PER_KCAL))
    inter = [f for f in found if "interaction" in f[0].lower()]
    pick = inter or found
    if len(pick) != 1:
        what = "no" if not pick else "several"
        raise InputError(
            path, f"{what} energy column with a unit in its name (e.g. interaction_kJmol)"
        )
    return pick[0]


def read_energies(path: str | Path, n_input_frames: int, stride: int) -> np.ndarray:
    """Per-snapshot energies (kcal/mol) from a CSV, strided like the trajectory.

    Args:
        path: CSV file with one row per input snapshot.
        n_input_frames: frames after striding (must equal ceil(rows / stride)).
        stride: the trajectory stride.

    Returns:
        (T,) float64 kcal/mol.
    """
    p = Path(path)
    table = read_table(p)
    col, factor = energy_column(p, table)
    values = _floats(p, col, table[col])[::stride]
    if values.shape[0] != n_input_frames:
        raise InputError(p, f"{len(table[col])} energy rows do not match the trajectory's frames")
    return values * factor


def times_next_to(traj: Path, n_frames: int, stride: int) -> tuple[np.ndarray, str] | None:
    """``time_ps`` from ``energies.csv``/``interaction_energy.csv`` beside ``traj``, if usable."""
    for name in TIME_TABLES:
        path = traj.parent / name
        if not path.is_file():
            continue
        try:
            table = read_table(path)
            if "time_ps" not in table:
                continue
            t = _floats(path, "time_ps", table["time_ps"])[::stride]
        except InputError:
            continue
        if t.shape[0] == n_frames and (n_frames < 2 or (np.diff(t) > 0).all()):
            return t, str(path)
    return None
