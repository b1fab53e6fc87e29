"""The single- and multi-trajectory protocols: splits, training windows and their samplers.

Single task (one trajectory of T snapshots): ``[0, n_train)`` is the training range and
``[n_train, T)`` the test range (``n_train = round(train_fraction·T)``). The last
``n_val = max(1, round(val_fraction·n_train))`` training snapshots are held out for model
selection: training windows lie inside ``[0, n_fit)`` with ``n_fit = n_train − n_val``, and the
validation rollout starts from the history ``[0, n_fit)`` and predicts ``[n_fit, n_train)``.
No window and no validation ever touches a test snapshot.

Multi task: trajectories are split by name into train/val/test (seeded shuffle, or a split
file). Each training batch draws one end frame ``e ~ U{1..E}`` (seeded, shared by the batch,
``E = min(horizon, T_min − 1)``) and trains on frames ``0..e`` with ``known = 1``.

Batches are GLOBAL: the sampler builds the same global batches on every DDP process and each
process takes its contiguous share, so N processes see exactly the windows one process would.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset, Sampler

from neuralmd_core import keys
from neuralmd_core.data.system import BindingSystem
from neuralmd_core.errors import ConfigError, InputError

#: a training item: (system index, first frame, number of frames)
WindowKey = tuple[int, int, int]


@dataclass(frozen=True)
class SingleSplit:
    """Frame ranges of the single-trajectory protocol (half-open ``[start, stop)`` pairs)."""

    trajectory: str
    n_frames: int
    fit: tuple[int, int]
    val: tuple[int, int]
    test: tuple[int, int]

    @property
    def train(self) -> tuple[int, int]:
        """The whole training range (fit + validation), i.e. the known history at test time."""
        return (self.fit[0], self.val[1])

    def as_dict(self) -> dict[str, Any]:
        return {
            "task": "single",
            "trajectory": self.trajectory,
            "n_frames": self.n_frames,
            "train_frames": list(self.train),
            "fit_frames": list(self.fit),
            "val_frames": list(self.val),
            "test_frames": list(self.test),
            "train": [self.trajectory],
            "val": [self.trajectory],
            "test": [self.trajectory],
        }


def single_split(
    name: str, n_frames: int, train_fraction: float, val_fraction: float, window: int
) -> SingleSplit:
    """Split one trajectory in time (see the module docstring).

    Args:
        name: trajectory name.
        n_frames: T.
        train_fraction: fraction of snapshots in the training range (0.8 → 0–79 of 100).
        val_fraction: fraction of the training range held out (0.1 → 72–79 of 0–79).
        window: frames per training window (known + horizon); at least one must fit.

    Raises:
        ConfigError: when the trajectory is too short for one window plus validation and test.
    """
    n_train = int(round(train_fraction * n_frames))
    n_val = max(1, int(round(val_fraction * n_train)))
    n_fit = n_train - n_val
    if n_train >= n_frames or n_fit < window:
        raise ConfigError(
            name,
            f"{n_frames} snapshots are too few for train_fraction {train_fraction}, "
            f"val_fraction {val_fraction} and windows of {window} frames",
        )
    return SingleSplit(name, n_frames, (0, n_fit), (n_fit, n_train), (n_train, n_frames))


def multi_split(names: Sequence[str], fractions: Sequence[float], seed: int) -> dict[str, list]:
    """Split trajectory names into train/val/test by a seeded shuffle.

    ``n_val = round(f_val·n)`` and ``n_test = round(f_test·n)``, each raised to at least 1 when
    its fraction is positive and n ≥ 3; train gets the rest (at least 1).

    Raises:
        ConfigError: fewer than 3 trajectories (use a split file or the single task).
    """
    n = len(names)
    if n < 3:
        raise ConfigError(
            "--task", f"the multi task needs at least 3 trajectories, the dataset has {n}"
        )
    n_val = max(1 if fractions[1] > 0 else 0, int(round(fractions[1] * n)))
    n_test = max(1 if fractions[2] > 0 else 0, int(round(fractions[2] * n)))
    if n - n_val - n_test < 1 or n_val < 1:
        raise ConfigError("split_fractions", f"cannot split {n} trajectories as {list(fractions)}")
    gen = torch.Generator().manual_seed(int(seed))
    order = [sorted(names)[i] for i in torch.randperm(n, generator=gen).tolist()]
    return {
        "task": "multi",
        "train": order[: n - n_val - n_test],
        "val": order[n - n_val - n_test : n - n_test],
        "test": order[n - n_test :],
    }


def read_split_file(path: str | Path, names: Sequence[str]) -> dict[str, list]:
    """Read ``{"train": [...], "val": [...], "test": [...]}``; names must exist and be disjoint."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "split file not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(path, "not a JSON text file (binary content)") from exc
    except json.JSONDecodeError as exc:
        raise InputError(path, f"not valid JSON ({exc.msg})") from exc
    if not isinstance(data, dict) or not data.get("train") or not data.get("val"):
        raise InputError(path, "needs non-empty 'train' and 'val' lists of trajectory names")
    for part in ("train", "val", "test"):
        value = data.get(part, [])
        if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
            raise InputError(path, f"{part!r} must be a list of trajectory names")
    known, seen = set(names), set()
    for part in ("train", "val", "test"):
        for name in data.get(part, []):
            if name not in known:
                raise InputError(path, f"trajectory {name!r} ({part}) is not in the dataset")
            if name in seen:
                raise InputError(path, f"trajectory {name!r} is in more than one split")
            seen.add(name)
    return {"task": "multi", **{p: list(data.get(p, [])) for p in ("train", "val", "test")}}


class SystemCache:
    """Lazily loads systems by index through ``loader(name)``; keeps the ``size`` latest."""

    def __init__(self, names: Sequence[str], loader: Callable[[str], BindingSystem], size=256):
        self.names = list(names)
        self._loader = loader
        self._size = size
        self._cache: OrderedDict[int, BindingSystem] = OrderedDict()

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int) -> BindingSystem:
        if i in self._cache:
            self._cache.move_to_end(i)
            return self._cache[i]
        system = self._loader(self.names[i])
        self._cache[i] = system
        if len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return system


class WindowDataset(Dataset):
    """Items are windows ``(system index, first frame, length)`` of cached systems.

    ``dataset[(s, a, L)]`` is the per-system mapping ``collate_systems`` takes, with
    ``LIG_POS (L, N, 3)`` Å (and ``ENERGY (L,)`` kcal/mol when the data has it).
    """

    def __init__(self, systems: SystemCache):
        self.systems = systems

    def __len__(self) -> int:
        return len(self.systems)

    def __getitem__(self, key: WindowKey) -> dict[str, Any]:
        s, a, length = key
        system = self.systems[s]
        item: dict[str, Any] = dict(system.static_tensors())
        item[keys.LIG_POS] = system.lig_pos[a : a + length]
        if system.energy is not None:
            item[keys.ENERGY] = system.energy[a : a + length]
        return item


class GlobalBatchSampler(Sampler[list[WindowKey]]):
    """Seeded global batches of windows; each DDP process yields its share of every batch.

    Args:
        windows: single task: every training window; multi task: one ``(s, 0, T_s)`` per
            training trajectory (truncated per batch to ``0..e``).
        batch_size: global batch size.
        seed: base seed; batch order of epoch k uses seed and k only.
        multi: draw one end frame per batch (multi task).
        max_end: multi: largest end frame E (``e ~ U{1..min(E, T_min − 1)}``).
        shuffle: shuffle each epoch.
        rank, world_size: this process and the number of processes.
        epoch_offset: epochs already done (resume).
    """

    def __init__(
        self,
        windows: Sequence[WindowKey],
        batch_size: int,
        seed: int,
        multi: bool = False,
        max_end: int | None = None,
        shuffle: bool = True,
        rank: int = 0,
        world_size: int = 1,
        epoch_offset: int = 0,
    ):
        if batch_size % world_size:
            raise ConfigError(
                "batch_size", f"{batch_size} is not divisible by {world_size} processes"
            )
        self.windows, self.batch_size, self.seed = list(windows), batch_size, seed
        self.multi, self.max_end, self.shuffle = multi, max_end, shuffle
        self.rank, self.world_size = rank, world_size
        self.epoch_offset, self.epoch = epoch_offset, epoch_offset

    def set_epoch(self, epoch: int) -> None:
        """Lightning calls this with the epoch of the current ``fit``; resume adds its offset."""
        self.epoch = self.epoch_offset + epoch

    def global_batches(self) -> list[list[WindowKey]]:
        """The global batches of the current epoch (identical on every process)."""
        gen = torch.Generator().manual_seed(int(self.seed) * 1_000_003 + self.epoch)
        n = len(self.windows)
        order = torch.randperm(n, generator=gen).tolist() if self.shuffle else list(range(n))
        batches = []
        for i in range(0, n, self.batch_size):
            batch = [self.windows[j] for j in order[i : i + self.batch_size]]
            if len(batch) < self.world_size:
                continue  # a short last batch cannot be shared by every process
            if self.multi:
                t_min = min(length for _, _, length in batch)
                top = min(self.max_end or t_min - 1, t_min - 1)
                e = 1 + int(torch.randint(top, (1,), generator=gen))
                batch = [(s, 0, e + 1) for s, _, _ in batch]
            batches.append(batch)
        return batches

    def __iter__(self) -> Iterator[list[WindowKey]]:
        for batch in self.global_batches():
            n = len(batch)
            yield batch[n * self.rank // self.world_size : n * (self.rank + 1) // self.world_size]

    def __len__(self) -> int:
        n_full, rest = divmod(len(self.windows), self.batch_size)
        return n_full + (1 if rest >= self.world_size else 0)


def single_windows(split: SingleSplit, window: int) -> list[WindowKey]:
    """Every window of ``window`` frames inside the fit range of system 0."""
    return [(0, a, window) for a in range(split.fit[0], split.fit[1] - window + 1)]
