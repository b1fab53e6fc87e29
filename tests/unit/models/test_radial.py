"""Radial basis, cutoff and radius graphs against brute-force references."""

from __future__ import annotations

import math

import pytest
import torch

from neuralmd_core.models import (
    ExpNormalSmearing,
    cosine_cutoff,
    radius_bipartite,
    radius_graph,
    safe_norm,
)


def _brute_graph(pos, batch, cutoff):
    edges = set()
    for a in range(len(pos)):
        for b in range(len(pos)):
            if a != b and batch[a] == batch[b] and float((pos[a] - pos[b]).norm()) < cutoff:
                edges.add((b, a))
    return edges


def _as_set(edge_index):
    return {(int(i), int(j)) for i, j in edge_index.t()}


def _points(n, seed, scale=4.0):
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(n, 3, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("contiguous", [True, False])
def test_radius_graph_matches_brute_force_and_stays_in_system(contiguous):
    pos = _points(60, 0)
    batch = torch.arange(60) % 3 if not contiguous else torch.arange(60) // 20
    ei = radius_graph(pos, batch, 3.0)
    assert _as_set(ei) == _brute_graph(pos, batch, 3.0)
    assert ei.shape[1] == len(_as_set(ei))  # no duplicates
    assert bool((batch[ei[0]] == batch[ei[1]]).all())
    assert bool((ei[0] != ei[1]).all())


def test_radius_graph_interleaved_systems_and_centre_order():
    """Systems need not be contiguous; edges come sorted by centre, neighbours in index order."""
    pos = _points(60, 1)
    batch = torch.randint(0, 4, (60,), generator=torch.Generator().manual_seed(3))
    ei = radius_graph(pos, batch, 4.0)
    assert _as_set(ei) == _brute_graph(pos, batch, 4.0)
    key = ei[1] * 60 + ei[0]
    assert bool((key[1:] > key[:-1]).all())


def test_radius_graph_empty_and_isolated():
    pos = torch.tensor([[0.0, 0, 0], [10.0, 0, 0]])
    assert radius_graph(pos, torch.zeros(2, dtype=torch.long), 5.0).shape == (2, 0)
    assert radius_graph(pos[:0], torch.zeros(0, dtype=torch.long), 5.0).shape == (2, 0)


def test_max_neighbors_raises_with_count_instead_of_truncating():
    pos = _points(30, 2, scale=1.0)  # dense: every point sees ~29 neighbours
    batch = torch.zeros(30, dtype=torch.long)
    worst = int(torch.bincount(radius_graph(pos, batch, 5.0)[1]).max())
    with pytest.raises(ValueError, match=f"{worst} neighbours"):
        radius_graph(pos, batch, 5.0, max_neighbors=5)
    assert _as_set(radius_graph(pos, batch, 5.0, max_neighbors=worst)) == _brute_graph(
        pos, batch, 5.0
    )


def test_truncation_keeps_first_found_in_index_order():
    pos = _points(30, 2, scale=1.0)
    batch = torch.zeros(30, dtype=torch.long)
    full = radius_graph(pos, batch, 5.0)
    cut = radius_graph(pos, batch, 5.0, max_neighbors=5, truncate=True)
    assert int(torch.bincount(cut[1]).max()) == 5
    for centre in range(30):
        kept = sorted(int(b) for b in cut[0][cut[1] == centre])
        assert kept == sorted(int(b) for b in full[0][full[1] == centre])[:5]


def test_radius_bipartite_matches_brute_force():
    ca, pos = _points(40, 3), _points(25, 4)
    res_batch, lig_batch = torch.arange(40) // 20, torch.arange(25) // 13
    ei = radius_bipartite(ca, res_batch, pos, lig_batch, 5.0)
    brute = {
        (r, a)
        for r in range(40)
        for a in range(25)
        if res_batch[r] == lig_batch[a] and float((ca[r] - pos[a]).norm()) < 5.0
    }
    assert _as_set(ei) == brute and len(brute) > 0
    with pytest.raises(ValueError, match="radius_bipartite"):
        radius_bipartite(ca, res_batch, pos, lig_batch, 5.0, max_neighbors=1)


def test_cosine_cutoff_and_expnorm_values():
    d = torch.tensor([0.0, 2.5, 5.0, 7.0], dtype=torch.float64)
    assert torch.allclose(
        cosine_cutoff(d, 5.0), torch.tensor([1.0, 0.5, 0.0, 0.0], dtype=torch.float64)
    )
    rbf = ExpNormalSmearing(5.0, 96).double()
    out = rbf(d)
    assert out.shape == (4, 96)
    assert float(out[2:].abs().max()) == 0.0
    # at d = 0 the basis peaks at the last centre μ_K = 1 with value φ(0) = 1
    assert math.isclose(float(out[0, -1]), 1.0) and int(out[0].argmax()) == 95
    beta = (2.0 / 96 * (1 - math.exp(-5.0))) ** -2
    k = 7
    mu = math.exp(-5.0) + k * (1 - math.exp(-5.0)) / 95
    expect = 0.5 * (math.cos(math.pi * 2.5 / 5) + 1) * math.exp(-beta * (math.exp(-2.5) - mu) ** 2)
    assert math.isclose(float(out[1, k]), expect, rel_tol=1e-9)


def test_safe_norm_is_smooth_at_zero():
    v = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(safe_norm(v), v, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), v)
    assert torch.isfinite(g).all() and torch.isfinite(h).all()
