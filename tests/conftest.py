"""Shared fixtures: where the real reference data lives.

The tests need nothing beside the repository. The small real data they read (OpenMM reference
MD of T4L and 11GS, MISATO fixtures) is shipped in ``tests/data/`` in the layout of the
workshop's ``shared/`` folder (``refdata/<system>/seed<k>/…``, ``misato/…``); text files are
stored gzip-compressed and unpacked once per session into a temporary copy, so no test can
modify the shipped files. ``tests/data/README.md`` lists the files, their sources and licences.
"""

from __future__ import annotations

import gzip
import os
import shutil
import sys
from pathlib import Path

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
torch.set_num_threads(1)  # 2 shared cores: one thread is fastest for these small models

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
#: the workshop's data folders a fresh clone does not have; no test may open a file in them
FORBIDDEN = tuple(
    str(p.resolve()) + os.sep
    for p in {
        REPO.parent / "shared",
        Path(os.environ.get("NEURALMD_SHARED", REPO.parent / "shared")),
    }
)


def _no_shared(event: str, args: tuple) -> None:
    """Audit hook: opening a file under ``../shared`` (or ``NEURALMD_SHARED``) is an error."""
    if event == "open" and isinstance(args[0], (str, Path)):
        path = os.path.abspath(os.fspath(args[0]))
        if path.startswith(FORBIDDEN):
            raise RuntimeError(f"a test opened {path}: tests must use tests/data, not ../shared")


sys.addaudithook(_no_shared)


def unpack(src: Path, dest: Path) -> Path:
    """Copy ``src`` (the shipped data) to ``dest``, gunzipping every ``*.gz`` file on the way."""
    for f in sorted(src.rglob("*")):
        if not f.is_file() or f.name == "README.md":
            continue
        rel = f.relative_to(src)
        out = dest / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        if f.suffix == ".gz":
            with gzip.open(f, "rb") as fin, open(out.with_suffix(""), "wb") as fout:
                shutil.copyfileobj(fin, fout)
        else:
            shutil.copyfile(f, out)
    return dest


@pytest.fixture(scope="session")
def shared_dir(tmp_path_factory) -> Path:
    """A private copy of ``tests/data`` with the layout of the workshop's ``shared/`` folder."""
    if not DATA.is_dir():
        pytest.fail(f"test data not found at {DATA} (it is part of the repository)")
    return unpack(DATA, tmp_path_factory.mktemp("shared"))


@pytest.fixture(scope="session")
def refdata_dir(shared_dir: Path) -> Path:
    return shared_dir / "refdata"


@pytest.fixture(scope="session")
def t4l_seed0(refdata_dir: Path) -> Path:
    return refdata_dir / "t4l" / "seed0"


@pytest.fixture(scope="session")
def misato_dir(shared_dir: Path) -> Path:
    return shared_dir / "misato"
