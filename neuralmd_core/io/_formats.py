"""Trajectory file formats by content: what a file's first bytes are, and the DCD header.

mdtraj picks a reader by extension and, on a file of another format, lets its C readers print
noise and fail with messages such as ``Could not open file``. The checks here read the first
bytes themselves, so a wrong extension, garbage or a truncated file is reported in one line in
our words (``not a DCD file (its content looks like XTC)``).

DCD headers (CHARMM layout, the one mdtraj and OpenMM write): after the record marker ``84``
and ``CORD`` come 20 int32 control words; word 0 is NSET (frames), 1 ISTART (the step of the
first frame), 2 NSAVC (steps between frames), 3 NSTEP, 9 DELTA (the time step as float32 in
AKMA time units, 1 AKMA = 48.88821 fs), 19 the CHARMM version (0: X-PLOR, DELTA a float64).
Frame k is at time ``(ISTART + k * NSAVC) * DELTA`` (the convention of CHARMM and MDAnalysis).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: one AKMA time unit, ps (CHARMM's internal time unit, used by DCD headers)
AKMA_PS = 0.04888821

#: extension → the content formats a file of that extension may hold
EXPECTED: dict[str, tuple[str, ...]] = {
    ".xtc": ("XTC",),
    ".trr": ("TRR",),
    ".dcd": ("DCD",),
    ".nc": ("NetCDF", "HDF5"),
    ".ncdf": ("NetCDF", "HDF5"),
    ".netcdf": ("NetCDF", "HDF5"),
    ".h5": ("HDF5",),
    ".hdf5": ("HDF5",),
    ".pdb": ("PDB",),
}

#: content format → the extension it is read under
EXTENSION = {"XTC": ".xtc", "TRR": ".trr", "DCD": ".dcd", "NetCDF": ".nc", "HDF5": ".h5",
             "PDB": ".pdb"}  # fmt: skip

#: extensions of files that hold coordinates but no topology
NO_TOPOLOGY = frozenset({".xtc", ".trr", ".dcd", ".nc", ".ncdf", ".netcdf", ".binpos", ".crd",
                         ".mdcrd", ".lammpstrj", ".dtr", ".xyz"})  # fmt: skip

_PDB_RECORDS = frozenset(
    "ATOM HETATM MODEL ENDMDL CRYST1 HEADER TITLE COMPND SOURCE KEYWDS EXPDTA AUTHOR REVDAT JRNL "
    "REMARK DBREF SEQADV SEQRES MODRES HET HETNAM HETSYN FORMUL HELIX SHEET SSBOND LINK CISPEP "
    "SITE ORIGX1 SCALE1 MTRIX1 ANISOU TER CONECT MASTER END NUMMDL MDLTYP SPLIT CAVEAT".split()
)
_BINARY_BYTES = frozenset(range(0, 9)) | frozenset(range(14, 27)) | frozenset(range(28, 32))


def sniff(path: Path) -> str | None:
    """What the file's first bytes look like.

    Returns:
        ``"XTC"``, ``"TRR"``, ``"DCD"``, ``"NetCDF"``, ``"HDF5"``, ``"PDB"``, ``"text"`` (some
        other text file), or ``None`` (binary content of no known trajectory format).
    """
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if head[:4] == b"\x00\x00\x07\xcb":
        return "XTC"
    if head[:4] == b"\x00\x00\x07\xc9":
        return "TRR"
    if _dcd_layout(head) is not None:
        return "DCD"
    if head[:3] == b"CDF" and head[3:4] in (b"\x01", b"\x02", b"\x05"):
        return "NetCDF"
    if head[:8] == b"\x89HDF\r\n\x1a\n":
        return "HDF5"
    if any(b in _BINARY_BYTES for b in head):
        return None
    text = head.decode("utf-8", errors="replace")
    records = {line[:6].strip().upper() for line in text.splitlines()}
    return "PDB" if records & _PDB_RECORDS else "text"


def describe(found: str | None) -> str:
    """``found`` (a :func:`sniff` result) in words, for an error message."""
    if found is None:
        return "unrecognised binary content"
    if found == "text":
        return "its content is text of no trajectory format"
    return f"its content looks like {found}"


def content_problem(path: Path) -> str | None:
    """Why a file's content does not match its extension (``None`` when it may, or is unknown).

    Example: an XTC renamed ``.dcd`` → ``"not a DCD file (its content looks like XTC; rename it
    .xtc)"``.
    """
    expected = EXPECTED.get(path.suffix.lower())
    if expected is None:
        return None
    found = sniff(path)
    if found in expected:
        return None
    if found == "text" and expected == ("PDB",):
        return "not a PDB file (text without ATOM, HETATM or MODEL records)"
    hint = f"; rename it {EXTENSION[found]}" if found in EXTENSION else ""
    article = "an" if expected[0] in ("XTC", "HDF5") else "a"
    return f"not {article} {expected[0]} file ({describe(found)}{hint})"


@dataclass(frozen=True)
class DCDHeader:
    """The fields of a DCD header that matter here (see the module docstring)."""

    order: str  # "<" or ">"
    nset: int
    istart: int
    nsavc: int
    delta_akma: float
    charmm: bool = True  # False: X-PLOR layout (DELTA a float64)

    def has_times(self) -> bool:
        """Whether the header states a time step (mdtraj's placeholder 0/1/1.0 does not)."""
        placeholder = self.istart == 0 and self.nsavc == 1 and self.delta_akma == 1.0
        return self.nsavc > 0 and self.delta_akma > 0 and not placeholder

    def times_ps(self, n_frames: int, stride: int = 1) -> np.ndarray:
        """(n_frames,) times of the frames read with ``stride``, ps."""
        k = np.arange(n_frames, dtype=np.float64) * stride
        return (self.istart + k * self.nsavc) * self.delta_akma * AKMA_PS


def _dcd_layout(head: bytes) -> str | None:
    """Byte order of a DCD with 32-bit record markers (``None`` if ``head`` is no such DCD)."""
    for order in ("<", ">"):
        if len(head) >= 12 and struct.unpack(order + "i", head[:4])[0] == 84:
            if head[4:8] == b"CORD":
                return order
    for order in ("<", ">"):  # 64-bit record markers (some CHARMM builds)
        if len(head) >= 12 and struct.unpack(order + "q", head[:8])[0] == 84:
            if head[8:12] == b"CORD":
                return order + "64"
    return None


def read_dcd_header(path: Path) -> DCDHeader | None:
    """The header of a DCD with 32-bit record markers, or ``None`` if it cannot be read."""
    with open(path, "rb") as fh:
        head = fh.read(92)
    order = _dcd_layout(head)
    if order not in ("<", ">") or len(head) < 92:
        return None
    nset, istart, nsavc = struct.unpack(order + "3i", head[8:20])
    version = struct.unpack(order + "i", head[84:88])[0]
    if version == 0:  # X-PLOR: DELTA is a float64 over words 9-10
        delta = struct.unpack(order + "d", head[44:52])[0]
    else:
        delta = struct.unpack(order + "f", head[44:48])[0]
    return DCDHeader(order, int(nset), int(istart), int(nsavc), float(delta), version != 0)


def dcd_time_fields(time_ps: np.ndarray) -> tuple[int, int, float]:
    """``(ISTART, NSAVC, DELTA in AKMA)`` that put frames at ``time_ps`` (uniform spacing).

    NSAVC stays 1 when the first time is a multiple of the interval (the usual case); otherwise
    the smallest NSAVC ≤ 1000 that makes ISTART an integer (else the nearest integer).
    """
    t = np.asarray(time_ps, dtype=np.float64).reshape(-1)
    dt = float(np.median(np.diff(t))) if t.size > 1 else 1.0
    dt = dt if dt > 0 else 1.0
    first = float(t[0]) if t.size else 0.0
    for nsavc in range(1, 1001):
        steps = first / dt * nsavc
        if abs(steps - round(steps)) < 1e-4:
            return int(round(steps)), nsavc, dt / nsavc / AKMA_PS
    return int(round(first / dt)), 1, dt / AKMA_PS


def write_dcd_times(path: Path, time_ps: np.ndarray) -> None:
    """Set a DCD's ISTART, NSAVC, NSTEP and DELTA so readers get the frames' times (ps).

    mdtraj writes ISTART 0, NSAVC 1, DELTA 1.0 AKMA whatever the times, which MDAnalysis reads
    as a 0.0489 ps interval.

    Raises:
        ValueError: ``path`` is not a DCD with 32-bit record markers.
    """
    header = read_dcd_header(path)
    if header is None or not header.charmm:
        raise ValueError(f"{path}: not a CHARMM-layout DCD file")
    istart, nsavc, delta = dcd_time_fields(time_ps)
    o = header.order
    with open(path, "r+b") as fh:
        fh.seek(12)
        fh.write(struct.pack(o + "3i", istart, nsavc, istart + header.nset * nsavc))
        fh.seek(44)
        fh.write(struct.pack(o + "f", delta))
