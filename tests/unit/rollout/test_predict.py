"""`rollout.predict` on real complexes: shapes, per-complex splits, initial velocities."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from neuralmd_core.data.prepare import system_from_pdb_sdf
from neuralmd_core.dynamics.registry import build_method, method_class
from neuralmd_core.errors import InputError
from neuralmd_core.rollout import predict
from neuralmd_core.rollout_job import resolve_device

TINY = {"hidden": 16, "num_radial": 8, "num_ligand_layers": 1}


@pytest.fixture(scope="module")
def systems(refdata_dir: Path):
    out = []
    for name in ("t4l", "11gs"):
        d = refdata_dir / name / "seed0"
        out.append(system_from_pdb_sdf(d / "topology.pdb", d / "ligand.sdf")[0])
    return out


@pytest.fixture(scope="module")
def free_flight():
    """NeuralMD-ODE with zero force, no velocity network, no friction: x_k = x_0 + k·v_0."""
    options = {"velocity_net": False}
    if "friction" in method_class("neuralmd-ode").Options.model_fields:
        options["friction"] = False
    method = build_method("neuralmd-ode", TINY, options)
    with torch.no_grad():
        for head in (method.net.ligand.out, method.net.out):
            head.w2.weight.zero_()
    return method


def test_one_array_per_complex_with_its_atoms(systems, free_flight):
    preds = predict(free_flight, systems, 3, samples=2, seed=0)
    assert [p.shape for p in preds] == [(2, 3, 8, 3), (2, 3, 39, 3)]
    assert all(p.dtype == np.float64 for p in preds)
    for s, p in zip(systems, preds):  # no velocity, no force: the pose stays
        np.testing.assert_allclose(p, np.broadcast_to(s.lig_pos[-1], p.shape), atol=1e-5)


def test_given_velocities_are_per_complex_and_none_means_from_history(systems, free_flight):
    t4l, gs = systems
    # a two-frame history for 11GS: its finite difference is the velocity when none is given
    shift = np.linspace(-0.2, 0.2, gs.num_atoms * 3).reshape(-1, 3).astype(np.float32)
    hist = np.stack([gs.lig_pos[-1] - shift, gs.lig_pos[-1]])
    gs2 = dataclasses.replace(gs, lig_pos=hist, time_ps=np.arange(2.0))
    t4l2 = dataclasses.replace(
        t4l, lig_pos=np.repeat(t4l.lig_pos[-1:], 2, 0), time_ps=np.arange(2.0)
    )
    v = np.full((t4l.num_atoms, 3), 0.1)
    a, b = predict(free_flight, [t4l2, gs2], 2, init_velocity=[v, None])
    k = np.arange(1, 3)[:, None, None]
    np.testing.assert_allclose(a[0], t4l.lig_pos[-1] + k * v, atol=1e-5)
    np.testing.assert_allclose(b[0], gs.lig_pos[-1] + k * shift, atol=1e-5)


def test_cuda_request_without_cuda_is_an_input_error():
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(InputError, match="no CUDA device"):
        resolve_device("cuda:0")
    assert resolve_device("auto") == torch.device("cpu")


def test_small_cpu_rollouts_run_on_one_thread_and_restore_the_setting():
    import torch

    from neuralmd_core.rollout import SINGLE_THREAD_ATOMS, cpu_threads

    before = torch.get_num_threads()
    seen = []
    with cpu_threads(torch.device("cpu"), 8):
        seen.append(torch.get_num_threads())
    with cpu_threads(torch.device("cpu"), SINGLE_THREAD_ATOMS):
        seen.append(torch.get_num_threads())
    assert seen == [1, before] and torch.get_num_threads() == before
