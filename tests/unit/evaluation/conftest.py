"""A small real dataset (T4L seeds 0-2) and checkpoints for dataset-mode evaluation."""

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def t4l_dataset(tmp_path_factory, refdata_dir) -> Path:
    from neuralmd_core.data.prepare import prepare_from_md
    from neuralmd_core.data.store import write_systems

    root = refdata_dir / "t4l"
    systems = prepare_from_md(
        root / "seed0" / "topology.pdb", [root / f"seed{k}" / "traj.xtc" for k in range(3)]
    )
    path = tmp_path_factory.mktemp("data") / "t4l.h5"
    write_systems(path, systems)
    return path


def save_reference_checkpoint(path: Path, method: str, task: str, names: list[str]) -> Path:
    """A real checkpoint (training.checkpoint) of a parameter-free method with a stored split."""
    from neuralmd_core.dynamics.registry import build_method
    from neuralmd_core.training.checkpoint import save_checkpoint
    from neuralmd_core.training.tasks import single_split

    if task == "single":
        splits = single_split(names[0], 100, 0.8, 0.1, 3).as_dict()
    else:
        splits = {"train": names[:1], "val": names[1:2], "test": names[1:]}
    meta = {"task": task, "splits": splits, "snapshot_interval_ps": 1.0}
    save_checkpoint(path, build_method(method), meta)
    return path
