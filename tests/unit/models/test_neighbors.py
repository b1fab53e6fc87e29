"""Verlet neighbour lists: the edges and the output of BindingNet are those of the radius graphs."""

from __future__ import annotations

import pytest
import torch

from neuralmd_core.models import BindingNet, radius_bipartite, radius_graph
from neuralmd_core.models._layers import FrameMLP, frame_mlps
from neuralmd_core.models.neighbors import NeighborList

SMALL = {"hidden": 16, "num_radial": 8, "num_ligand_layers": 2, "cutoff": 6.0}


def _setup(t4l_system, gs11_system, geo):
    torch.manual_seed(0)
    net = BindingNet(**SMALL).double()
    s = geo.batch_systems([t4l_system, gs11_system])
    protein = net.encode_protein(s["backbone"], s["res_type"], s["res_batch"])
    return net, s, protein


def _walk(pos: torch.Tensor, steps: int, size: float, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    out = [pos]
    for _ in range(steps):
        out.append(out[-1] + size * torch.randn(pos.shape, generator=g, dtype=pos.dtype))
    return out


@pytest.mark.parametrize("skin", [0.0, 1.0, 3.0])
def test_edges_are_the_radius_graphs_and_forces_are_unchanged(t4l_system, gs11_system, geo, skin):
    """A random walk of 0.1 Å steps through both real pockets (t4l + 11gs in one batch), along
    which the edge sets change: at every step the filtered candidates are exactly the radius
    graphs' edges, in their order, and the network's output with them is the output without."""
    net, s, protein = _setup(t4l_system, gs11_system, geo)
    nbrs = net.neighbor_list(s["lig_batch"], protein, skin)
    counts = set()
    for pos in _walk(s["pos"], 20, 0.1):
        edges = nbrs(pos)
        assert torch.equal(edges.ligand, radius_graph(pos, s["lig_batch"], SMALL["cutoff"]))
        exact = radius_bipartite(protein.ca, protein.res_batch, pos, s["lig_batch"], 6.0)
        assert torch.equal(edges.complex, exact) and exact.shape[1] > 0
        counts.add((edges.ligand.shape[1], exact.shape[1]))
        with torch.no_grad():
            ref = net(pos, s["z"], s["lig_batch"], protein)
            got = net(pos, s["z"], s["lig_batch"], protein, edges=edges)
            e_ref = net.energy(pos, s["z"], s["lig_batch"], protein, 2)
            e_got = net.energy(pos, s["z"], s["lig_batch"], protein, 2, edges=edges)
        torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(e_got, e_ref, rtol=1e-12, atol=1e-12)
    assert len(counts) > 3  # the walk crosses the cutoff many times
    if skin == 0:
        assert nbrs.rebuilds == 21  # every call
    else:  # Verlet's rule: no rebuild while every atom is within skin/2 of the last build
        assert 1 <= nbrs.rebuilds < (12 if skin == 1 else 3)


def test_rebuild_exactly_when_an_atom_has_moved_half_the_skin(t4l_system, gs11_system, geo):
    net, s, protein = _setup(t4l_system, gs11_system, geo)
    nbrs = net.neighbor_list(s["lig_batch"], protein, 2.0)
    pos = s["pos"]
    nbrs(pos)
    moved = pos.clone()
    moved[5, 0] += 0.99  # below skin/2 = 1 Å
    nbrs(moved)
    assert nbrs.rebuilds == 1
    moved[5, 0] += 0.02
    nbrs(moved)
    assert nbrs.rebuilds == 2


def test_no_list_where_candidates_would_change_the_output(t4l_system, gs11_system, geo):
    """paper_compat has no envelope in its complex layer, and a cap counts neighbours."""
    for options in ({"paper_compat": True}, {"max_neighbors": 64}):
        net = BindingNet(**SMALL, **options).double()
        s = geo.batch_systems([t4l_system])
        protein = net.encode_protein(s["backbone"], s["res_type"], s["res_batch"])
        assert net.neighbor_list(s["lig_batch"], protein, 1.0) is None
    with pytest.raises(ValueError, match="skin"):
        NeighborList(5.0, -1.0, s["lig_batch"], protein)


def test_stacked_frame_mlps_equal_each_alone():
    torch.manual_seed(0)
    nets = [FrameMLP(h).double() for h in (4, 8, 8)]
    q = torch.randn(50, 3, 6, dtype=torch.float64)
    together = frame_mlps(q, nets)
    for net, out in zip(nets, together):
        alone = net.net(q.transpose(-1, -2)).squeeze(-1) + q[..., 0, :]
        torch.testing.assert_close(out, alone, rtol=1e-12, atol=1e-12)
