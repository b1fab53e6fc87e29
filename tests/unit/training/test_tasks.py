"""Splits and samplers: no test snapshot ever reaches training or validation."""

from __future__ import annotations

import json

import pytest

from neuralmd_core.errors import ConfigError, InputError
from neuralmd_core.training.tasks import (
    GlobalBatchSampler,
    multi_split,
    read_split_file,
    single_split,
    single_windows,
)


def test_single_split_of_100_snapshots_matches_the_protocol():
    split = single_split("t", 100, 0.8, 0.1, window=3)
    assert split.train == (0, 80) and split.test == (80, 100)
    assert split.fit == (0, 72) and split.val == (72, 80)
    windows = single_windows(split, 3)
    frames = {a + k for _, a, n in windows for k in range(n)}
    assert frames == set(range(72))  # every fit frame used, nothing from validation or test
    assert len(windows) == 70


@pytest.mark.parametrize("n_frames,window", [(25, 3), (100, 6), (40, 3), (1000, 3)])
def test_windows_and_validation_never_touch_test_snapshots(n_frames, window):
    split = single_split("t", n_frames, 0.8, 0.1, window)
    test = set(range(*split.test))
    assert test and min(test) == round(0.8 * n_frames) and max(test) == n_frames - 1
    val = set(range(*split.val))
    assert val and not (val & test)
    for _, a, n in single_windows(split, window):
        assert a + n <= split.fit[1] <= split.val[0]  # windows stay left of validation
    assert split.val[1] == split.test[0]


def test_too_short_trajectory_is_refused():
    with pytest.raises(ConfigError, match="too few"):
        single_split("t", 4, 0.8, 0.1, window=3)


@pytest.mark.parametrize("n", [3, 4, 5, 10, 37])
def test_multi_split_is_disjoint_complete_and_never_empty(n):
    names = [f"traj{i:02d}" for i in range(n)]
    split = multi_split(names, (0.8, 0.1, 0.1), seed=0)
    parts = [set(split[k]) for k in ("train", "val", "test")]
    assert all(parts) and set().union(*parts) == set(names)
    assert sum(len(p) for p in parts) == n
    assert len(parts[1]) == max(1, round(0.1 * n))
    assert split == multi_split(list(reversed(names)), (0.8, 0.1, 0.1), seed=0)  # order-free
    assert any(multi_split(names, (0.8, 0.1, 0.1), seed=s) != split for s in range(1, 6))


def test_multi_split_needs_three_trajectories():
    with pytest.raises(ConfigError, match="at least 3"):
        multi_split(["a", "b"], (0.8, 0.1, 0.1), seed=0)


def test_split_file_is_checked(tmp_path):
    path = tmp_path / "split.json"
    path.write_text(json.dumps({"train": ["a", "b"], "val": ["c"], "test": []}))
    assert read_split_file(path, ["a", "b", "c"])["val"] == ["c"]
    path.write_text(json.dumps({"train": ["a"], "val": ["zz"]}))
    with pytest.raises(InputError, match="'zz'"):
        read_split_file(path, ["a", "b"])
    path.write_text(json.dumps({"train": ["a"], "val": ["a"]}))
    with pytest.raises(InputError, match="more than one split"):
        read_split_file(path, ["a", "b"])


def test_ddp_shares_cover_exactly_the_global_batches():
    windows = [(0, a, 3) for a in range(17)]
    one = GlobalBatchSampler(windows, 4, seed=5)
    one.set_epoch(3)
    shares = []
    for rank in range(2):
        s = GlobalBatchSampler(windows, 4, seed=5, rank=rank, world_size=2)
        s.set_epoch(3)
        shares.append(list(s))
    # 17 windows: 4 full global batches + 1 window that two processes cannot share (dropped)
    assert len(one) == 5 and len(shares[0]) == len(shares[1]) == 4
    assert len(list(GlobalBatchSampler(windows, 4, seed=5, world_size=2))) == 4
    for full, a, b in zip(one, *shares):
        assert a + b == full and len(a) == len(b) == 2
    other = GlobalBatchSampler(windows, 4, seed=5)
    other.set_epoch(4)
    assert list(other) != list(one)  # reshuffled per epoch, reproducibly
    with pytest.raises(ConfigError, match="divisible"):
        GlobalBatchSampler(windows, 3, seed=0, world_size=2)


def test_multi_batches_share_one_end_frame_within_bounds():
    windows = [(i, 0, 25 if i % 2 else 20) for i in range(6)]
    sampler = GlobalBatchSampler(windows, 3, seed=1, multi=True)
    ends = set()
    for epoch in range(20):
        sampler.set_epoch(epoch)
        for batch in sampler:
            assert len({n for _, _, n in batch}) == 1 and all(a == 0 for _, a, _ in batch)
            e = batch[0][2] - 1
            assert 1 <= e <= min(windows[s][2] for s, _, _ in batch) - 1
            ends.add(e)
    assert len(ends) > 5
    capped = GlobalBatchSampler(windows, 3, seed=1, multi=True, max_end=4)
    assert all(b[0][2] - 1 <= 4 for b in capped)
