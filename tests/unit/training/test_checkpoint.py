"""Checkpoints: round trip with weights_only=True; a pickle payload is refused, never run."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from neuralmd_core.dynamics.registry import build_method
from neuralmd_core.errors import InputError
from neuralmd_core.training.checkpoint import (
    load_checkpoint,
    load_method,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from tests.unit.training.conftest import TINY_NETWORK

META = {"task": "single", "splits": {"train": ["a"]}, "snapshot_interval_ps": 1.0, "seed": 3}


def test_round_trip_restores_weights_and_meta(tmp_path):
    torch.manual_seed(0)
    method = build_method("gnn-md", TINY_NETWORK, {})
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, method, dict(META, resume={"rng": rng_state()}))
    raw = torch.load(path, weights_only=True)  # an independent reader
    assert raw["method"] == "gnn-md" and raw["units"]["length"] == "angstrom"
    assert set(raw["versions"]) >= {"neuralmd", "torch", "lightning", "torchdiffeq", "python"}
    loaded, meta = load_method(path)
    assert meta["task"] == "single" and meta["snapshot_interval_ps"] == 1.0
    assert meta["method"] == "gnn-md" and "state_dict" not in meta and "resume" not in meta
    assert not loaded.training
    for (k, v), (k2, v2) in zip(method.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)


def test_rng_state_round_trip():
    state = rng_state()
    a = torch.rand(3)
    set_rng_state(state)
    assert torch.equal(torch.rand(3), a)


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    method = build_method("static")
    save_checkpoint(path, method, META)
    data = torch.load(path, weights_only=True)
    data["config"] = _Payload(marker)
    torch.save(data, path)
    with pytest.raises(InputError, match="refused to load") as err:
        load_method(path)
    assert "system" in str(err.value)
    assert not marker.exists()
    # a plain pickle file (not even a torch zip) is refused as well
    raw = tmp_path / "evil.pkl"
    raw.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(InputError):
        load_checkpoint(raw)
    assert not marker.exists()


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_method(tmp_path / "none.pt")
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(InputError, match="not a neuralmd checkpoint"):
        load_method(other)
    text = tmp_path / "text.pt"
    text.write_text("hello")
    with pytest.raises(InputError):
        load_method(text)


def test_checkpoint_files_get_default_permissions_and_no_temp(tmp_path):
    old = os.umask(0o022)
    try:
        save_checkpoint(tmp_path / "c.pt", build_method("static"), META)
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "c.pt").st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


@pytest.mark.parametrize(
    "make,reason",
    [
        (lambda p: p.write_bytes(b""), "the file is empty"),
        (lambda p: p.write_bytes(os.urandom(500)), "not a torch file"),
        (lambda p: p.write_bytes(pickle.dumps({"x": 1})), "not a torch file"),
        (lambda p: torch.save([torch.zeros(2)], p), "no neuralmd metadata"),
        (lambda p: torch.save({"format": "other"}, p), "no neuralmd metadata"),
    ],
    ids=["empty", "garbage", "plain pickle", "a list", "foreign dict"],
)
def test_not_a_checkpoint_says_why(tmp_path, make, reason):
    path = tmp_path / "x.pt"
    make(path)
    with pytest.raises(InputError) as err:
        load_checkpoint(path)
    assert err.value.problem.startswith(f"not a neuralmd checkpoint: {reason}")


def test_truncated_checkpoint(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, build_method("gnn-md", TINY_NETWORK, {}), META)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(InputError, match="not a neuralmd checkpoint: truncated"):
        load_checkpoint(path)


def test_weights_that_do_not_match_their_record_are_one_line(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, build_method("neuralmd-ode", TINY_NETWORK, {}),
                    dict(META, config={"model": "neuralmd-ode", "network": TINY_NETWORK}))  # fmt: skip
    raw = torch.load(path, weights_only=True)
    cases = {
        "relabelled": dict(raw, method="neuralmd-sde", config=dict(raw["config"], model="neuralmd-sde")),
        "config only": dict(raw, config=dict(raw["config"], model="neuralmd-sde")),
        "options emptied": dict(raw, method="gnn-md", method_options={}, config={}),
        "resized": dict(raw, model_options=dict(raw["model_options"], hidden=32), config={}),
    }  # fmt: skip
    for name, data in cases.items():
        torch.save(data, path)
        with pytest.raises(InputError) as err:
            load_method(path)
        message = str(err.value)
        assert "weights do not match" in message, (name, message)
        assert "\n" not in message and len(message) < 300, (name, message)


def test_options_added_later_load_as_the_checkpoint_was_trained(tmp_path):
    path = tmp_path / "sde.pt"
    save_checkpoint(path, build_method("neuralmd-sde", TINY_NETWORK, {}), META)
    raw = torch.load(path, weights_only=True)
    assert raw["method_options"]["torsion_prior"] is True  # today's default is stored
    assert load_method(path)[0].sampler.torsion_prior
    # a checkpoint from before the option existed was trained and calibrated without it
    old = dict(raw, method_options={k: v for k, v in raw["method_options"].items()
                                    if k != "torsion_prior"})  # fmt: skip
    torch.save(old, path)
    assert not load_method(path)[0].sampler.torsion_prior
