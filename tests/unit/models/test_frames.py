"""The three frames: orthonormality, equivariance, degenerate cases, batch boundaries."""

from __future__ import annotations

import torch

from neuralmd_core.models import backbone_frames, edge_frames, residue_frames, scalarize


def _assert_orthonormal_proper(frames):
    eye = torch.eye(3, dtype=frames.dtype).expand_as(frames)
    assert torch.allclose(frames @ frames.transpose(-1, -2), eye, atol=1e-10)
    assert torch.allclose(torch.det(frames), torch.ones(frames.shape[0], dtype=frames.dtype))


def test_backbone_frames_orthonormal_and_equivariant(geo):
    g = torch.Generator().manual_seed(0)
    bb = geo.synthetic_backbone(12, g)
    fr = backbone_frames(bb)
    _assert_orthonormal_proper(fr)
    # e1 along CA − N and C − CA in the e1-e2 plane, for every residue alike
    u = bb[:, 2] - bb[:, 1]
    assert torch.allclose((u * fr[:, 2]).sum(-1), torch.zeros(12, dtype=torch.float64), atol=1e-10)
    q, t = geo.random_rotation(g), torch.tensor([3.0, -1.0, 2.0], dtype=torch.float64)
    assert torch.allclose(backbone_frames(bb @ q.T + t), fr @ q.T, atol=1e-12)
    # scalarised vectors are invariant
    v = torch.randn(12, 3, 5, dtype=torch.float64, generator=g)
    assert torch.allclose(scalarize(backbone_frames(bb @ q.T), q @ v), scalarize(fr, v), atol=1e-12)


def test_paper_backbone_frame_is_not_orthogonal(geo):
    bb = geo.synthetic_backbone(5, torch.Generator().manual_seed(1))
    fr = backbone_frames(bb, orthonormal=False)
    assert float((fr[:, 0] * fr[:, 1]).sum(-1).abs().max()) > 1e-3


def test_residue_frames_never_cross_systems(geo):
    g = torch.Generator().manual_seed(2)
    a, b = geo.synthetic_backbone(7, g), geo.synthetic_backbone(9, g, origin=(30.0, 0, 0))
    for bb in (a, b):
        _assert_orthonormal_proper(
            residue_frames(bb[:, 1], torch.zeros(len(bb), dtype=torch.long), backbone_frames(bb))
        )
    both = torch.cat([a, b])
    batch = torch.cat([torch.zeros(7), torch.ones(9)]).long()
    joint = residue_frames(both[:, 1], batch, backbone_frames(both))
    alone = torch.cat(
        [
            residue_frames(x[:, 1], torch.zeros(len(x), dtype=torch.long), backbone_frames(x))
            for x in (a, b)
        ]
    )
    assert torch.allclose(joint, alone, atol=1e-12)
    # the buggy variant does leak across the boundary
    leaky = residue_frames(both[:, 1], batch, backbone_frames(both), cross_systems=True)
    assert not torch.allclose(leaky[6:8], alone[6:8], atol=1e-6)
    # end residues copy their neighbour's frame
    assert torch.equal(alone[0], alone[1]) and torch.equal(alone[6], alone[5])


def test_short_systems_fall_back_to_backbone_frames(geo):
    g = torch.Generator().manual_seed(3)
    bb = torch.cat(
        [geo.synthetic_backbone(1, g), geo.synthetic_backbone(2, g), geo.synthetic_backbone(4, g)]
    )
    batch = torch.tensor([0, 1, 1, 2, 2, 2, 2])
    fr = residue_frames(bb[:, 1], batch, backbone_frames(bb))
    assert torch.equal(fr[:3], backbone_frames(bb)[:3])
    _assert_orthonormal_proper(fr)


def test_edge_frames_equivariant_and_finite_when_collinear(geo):
    g = torch.Generator().manual_seed(4)
    pos = torch.randn(6, 3, dtype=torch.float64, generator=g)
    ref = pos.mean(0).expand_as(pos)
    src, dst = torch.tensor([0, 1, 2, 5]), torch.tensor([1, 0, 4, 3])
    fr = edge_frames(pos, ref, src, dst, 1e-4)
    q, t = geo.random_rotation(g), torch.tensor([5.0, 1.0, -7.0], dtype=torch.float64)
    pos2 = pos @ q.T + t
    fr2 = edge_frames(pos2, pos2.mean(0).expand_as(pos2), src, dst, 1e-4)
    assert torch.allclose(fr2, fr @ q.T, atol=1e-10)
    # collinear with the centroid: a 2-atom ligand
    two = torch.tensor([[0.0, 0, 0], [1.5, 0, 0]], dtype=torch.float64)
    fr = edge_frames(
        two, two.mean(0).expand_as(two), torch.tensor([0, 1]), torch.tensor([1, 0]), 0.1
    )
    assert torch.isfinite(fr).all()
    assert torch.allclose(fr[:, 1:], torch.zeros_like(fr[:, 1:]))
