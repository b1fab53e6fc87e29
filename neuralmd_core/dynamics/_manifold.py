"""Moves of whole ligands that keep every bond length, bond angle and ring exact.

A ligand's configuration space here is its rigid-body pose plus the angle of each rotatable
bond (``data.ligand_graph``). A Cartesian displacement ``d`` (N, 3) Å is projected onto the
tangent space spanned by the Q = 6 + T generator fields (three translations, three rotations
about the centroid, one rotation per rotatable bond) by least squares, and the resulting
generalized increments ``q`` (S, Q) (Å, rad, rad) are applied **exactly**: each torsion rotates
its moving side about its bond axis (Rodrigues), then the whole ligand rotates about its
centroid and translates. Every move is an isometry of each rigid fragment, so no integration
error can stretch a bond, whatever the step.

Systems are padded to ``(S, N_max, 3)``; padded atoms and torsions are masked. Private to
``neuralmd_core.dynamics``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from neuralmd_core import keys
from neuralmd_core.data.ligand_graph import LigandGraph

TRANS, ROT = slice(0, 3), slice(3, 6)  #: columns of q: translation (Å), rotation (rad)


@lru_cache(maxsize=256)
def _graph(n: int, bonds: bytes) -> LigandGraph:
    return LigandGraph.from_bonds(n, np.frombuffer(bonds, dtype=np.int64).reshape(-1, 2))


def graphs_of(batch: Mapping[str, Any]) -> list[tuple[int, LigandGraph]]:
    """``(first atom, LigandGraph)`` of each system of a collated batch (atoms contiguous)."""
    lig_batch = batch[keys.LIG_BATCH].detach().cpu().numpy()
    bonds = batch[keys.LIG_BONDS_BATCH].detach().cpu().numpy().reshape(-1, 2).astype(np.int64)
    counts = np.bincount(lig_batch)
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    owner = lig_batch[bonds[:, 0]] if bonds.size else np.zeros(0, dtype=np.int64)
    out = []
    for b, (s, n) in enumerate(zip(starts, counts)):
        local = np.ascontiguousarray(bonds[owner == b] - s)
        out.append((int(s), _graph(int(n), local.tobytes())))
    return out


@dataclass
class Manifold:
    """Padded layout of S ligands and their rotatable bonds.

    Attributes:
        index: (S, N_max) global atom index of each padded slot (0 where padded).
        mask: (S, N_max) bool, real atoms.
        axes: (S, T_max, 2) local atoms (j, k) of each rotatable bond (0 where padded).
        moving: (S, T_max, N_max) bool, atoms turned by each rotatable bond.
        tmask: (S, T_max) bool, real torsions.
        num_atoms: N_tot of the flat layout.
    """

    index: torch.Tensor
    mask: torch.Tensor
    axes: torch.Tensor
    moving: torch.Tensor
    tmask: torch.Tensor
    num_atoms: int

    @classmethod
    def from_graphs(
        cls, graphs: Sequence[tuple[int, LigandGraph]], num_atoms: int, device=None
    ) -> Manifold:
        """Build from ``(first atom, graph)`` per system (see :func:`graphs_of`)."""
        s_n = len(graphs)
        n_max = max(g.n for _, g in graphs)
        t_max = max(len(g.axes) for _, g in graphs)
        index = np.zeros((s_n, n_max), dtype=np.int64)
        mask = np.zeros((s_n, n_max), dtype=bool)
        axes = np.zeros((s_n, t_max, 2), dtype=np.int64)
        moving = np.zeros((s_n, t_max, n_max), dtype=bool)
        tmask = np.zeros((s_n, t_max), dtype=bool)
        for s, (start, g) in enumerate(graphs):
            index[s, : g.n] = start + np.arange(g.n)
            mask[s, : g.n] = True
            t = len(g.axes)
            axes[s, :t], moving[s, :t, : g.n], tmask[s, :t] = g.axes, g.moving, True
        t = {"device": device}
        return cls(
            torch.as_tensor(index, **t), torch.as_tensor(mask, **t), torch.as_tensor(axes, **t),
            torch.as_tensor(moving, **t), torch.as_tensor(tmask, **t), num_atoms,
        )  # fmt: skip

    @classmethod
    def from_batch(cls, batch: Mapping[str, Any]) -> Manifold:
        """The manifold of every system of a collated batch."""
        n = int(batch[keys.LIG_BATCH].shape[0])
        return cls.from_graphs(graphs_of(batch), n, batch[keys.LIG_BATCH].device)

    def replicate(self, k: int) -> Manifold:
        """``k`` copies laid out like ``Context.replicate`` (copy j owns atoms j·N..(j+1)·N)."""
        if k == 1:
            return self
        n = self.num_atoms
        index = torch.cat([self.index + j * n for j in range(k)])
        rep = [torch.cat([t] * k) for t in (self.mask, self.axes, self.moving, self.tmask)]
        return Manifold(index, *rep, num_atoms=k * n)

    @property
    def num_q(self) -> int:
        """Q = 6 + T_max generalized coordinates per system."""
        return 6 + self.axes.shape[1]

    @property
    def dense(self) -> bool:
        """No padding: every system has N_max atoms, in order (then pad/unpad are reshapes)."""
        if "_dense" not in self.__dict__:
            flat = self.index.reshape(-1)
            self.__dict__["_dense"] = bool(self.mask.all()) and torch.equal(
                flat, torch.arange(self.num_atoms, device=flat.device)
            )
        return self.__dict__["_dense"]

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """Flat ``(N_tot, 3)`` → padded ``(S, N_max, 3)`` (zeros where padded)."""
        if self.dense:
            return x.reshape(self.index.shape[0], self.index.shape[1], 3)
        return x[self.index] * self.mask.unsqueeze(-1).to(x.dtype)

    def unpad(self, xp: torch.Tensor) -> torch.Tensor:
        """Padded ``(S, N_max, 3)`` → flat ``(N_tot, 3)``."""
        if self.dense:
            return xp.reshape(self.num_atoms, 3)
        out = xp.new_zeros((self.num_atoms, 3))
        return out.index_put((self.index[self.mask],), xp[self.mask])

    def centroid(self, xp: torch.Tensor) -> torch.Tensor:
        """(S, 3) unweighted centroid of the real atoms, Å."""
        m = self.mask.unsqueeze(-1).to(xp.dtype)
        return (xp * m).sum(1) / m.sum(1)

    def _axes(self, xp: torch.Tensor, t: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Origins and unit axes ``(S, T_max, 3)`` of every torsion at ``xp``, or ``(S, 3)`` of
        torsion ``t`` alone."""
        axes = self.axes if t is None else self.axes[:, t : t + 1]
        s_n, t_n, _ = axes.shape
        ends = torch.gather(xp, 1, axes.reshape(s_n, 2 * t_n, 1).expand(-1, -1, 3))
        xj, xk = ends.reshape(s_n, t_n, 2, 3).unbind(2)
        u = xk - xj
        u = u / u.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        return (xj, u) if t is None else (xj[:, 0], u[:, 0])

    def basis(self, xp: torch.Tensor) -> torch.Tensor:
        """Generator fields J ``(S, N_max, 3, Q)`` at ``xp``: translations, rotations, torsions."""
        s_n, n_max, _ = xp.shape
        m = self.mask.unsqueeze(-1).to(xp.dtype)
        eye = torch.eye(3, dtype=xp.dtype, device=xp.device)
        trans = eye.expand(s_n, n_max, 3, 3) * m.unsqueeze(-1)
        r = (xp - self.centroid(xp).unsqueeze(1)) * m
        rot = torch.cross(
            eye.expand(s_n, n_max, 3, 3), r.unsqueeze(-2).expand(-1, -1, 3, 3), dim=-1
        )
        cols = [trans, rot.transpose(-1, -2)]
        if self.axes.shape[1]:  # every torsion at once: (S, T, N_max, 3) → (S, N_max, 3, T)
            xj, u = self._axes(xp)
            arm = xp.unsqueeze(1) - xj.unsqueeze(2)
            w = torch.cross(u.unsqueeze(2).expand_as(arm), arm, dim=-1)
            keep = (self.moving & self.tmask.unsqueeze(-1)).unsqueeze(-1).to(xp.dtype)
            cols.append((w * keep).permute(0, 2, 3, 1))
        return torch.cat(cols, dim=-1)

    def normal(self, xp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The float64 Jacobian ``(S, 3N, Q)`` at ``xp`` and its ridge-regularised normal
        matrix JᵀJ ``(S, Q, Q)`` (padded torsions make it singular without the ridge)."""
        jac = self.basis(xp).flatten(1, 2).double()
        normal = jac.transpose(1, 2) @ jac
        ridge = 1e-8 * normal.diagonal(dim1=1, dim2=2).mean(-1)[:, None, None] + 1e-12
        eye = torch.eye(normal.shape[-1], dtype=normal.dtype, device=xp.device)
        return jac, normal + ridge * eye

    def project(self, xp: torch.Tensor, d: torch.Tensor, linear: bool = False):
        """Least-squares generalized increments ``q (S, Q)`` of displacements ``d (S, N_max, 3)``
        Å; ``d (S, N_max, 3, K)`` gives ``(S, Q, K)``, K fields in one solve. With ``linear``
        (one field), also the displacement J q ``(S, N_max, 3)`` Å that q makes to first order."""
        many = d.dim() == 4
        jac, normal = self.normal(xp)
        rhs = d.flatten(1, 2).double()
        q = torch.linalg.solve(normal, jac.transpose(1, 2) @ (rhs if many else rhs.unsqueeze(-1)))
        pad = torch.cat([self.tmask.new_ones((xp.shape[0], 6)), self.tmask], dim=1).unsqueeze(-1)
        q = q * pad
        out = q.to(xp.dtype) if many else q.squeeze(-1).to(xp.dtype)
        if not linear:
            return out
        return out, (jac @ q).reshape(xp.shape).to(xp.dtype)

    def move(self, xp: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """Apply ``q (S, Q)`` exactly: torsions in order, then rotation about the centroid, then
        translation. Returns the new ``(S, N_max, 3)``."""
        for t in range(self.axes.shape[1]):
            xj, u = self._axes(xp, t)
            turned = rotate(xp - xj.unsqueeze(1), u, q[:, 6 + t]) + xj.unsqueeze(1)
            xp = torch.where(self.moving[:, t].unsqueeze(-1), turned, xp)
        c = self.centroid(xp).unsqueeze(1)
        w = q[:, ROT]
        angle = w.norm(dim=-1)
        axis = w / angle.unsqueeze(-1).clamp_min(1e-12)
        xp = rotate(xp - c, axis, angle) + c + q[:, TRANS].unsqueeze(1)
        return xp * self.mask.unsqueeze(-1).to(xp.dtype)


def rotate(p: torch.Tensor, axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rodrigues: rotate points ``p (S, N, 3)`` about unit ``axis (S, 3)`` by ``angle (S,)`` rad."""
    u = axis.unsqueeze(1)
    cos, sin = torch.cos(angle)[:, None, None], torch.sin(angle)[:, None, None]
    cross = torch.cross(u.expand_as(p), p, dim=-1)
    return p * cos + cross * sin + u * (p * u).sum(-1, keepdim=True) * (1 - cos)


def rigid_distances(x: np.ndarray, graph: LigandGraph) -> np.ndarray:
    """Distances (..., P) Å of the rigid pairs of positions ``x (..., n, 3)``."""
    i, j = graph.rigid_pairs[:, 0], graph.rigid_pairs[:, 1]
    return np.linalg.norm(x[..., i, :] - x[..., j, :], axis=-1)


def idealize(
    x: np.ndarray, target: np.ndarray, graph: LigandGraph, iterations: int = 20
) -> np.ndarray:
    """``x (n, 3)`` Å moved minimally so its rigid distances best match ``target (P,)`` Å.

    Gauss–Newton with minimum-norm least-squares steps, float64: removes a pose's fast vibration
    (targets: the rigid distances' means over a history, or those of an ideal geometry).
    """
    x = np.asarray(x, dtype=np.float64).copy()
    pairs = graph.rigid_pairs
    if len(pairs) == 0:
        return x
    i, j = pairs[:, 0], pairs[:, 1]
    for _ in range(iterations):
        v = x[i] - x[j]
        dist = np.linalg.norm(v, axis=-1)
        res = dist - target
        if np.abs(res).max() < 1e-6:
            break
        u = v / dist[:, None]
        jac = np.zeros((len(pairs), graph.n, 3))
        jac[np.arange(len(pairs)), i] = u
        jac[np.arange(len(pairs)), j] = -u
        step = np.linalg.lstsq(jac.reshape(len(pairs), -1), -res, rcond=None)[0]
        x = x + step.reshape(graph.n, 3)
    return x


def rigid_distance_sq_change(a: torch.Tensor, b: torch.Tensor, graphs) -> torch.Tensor:
    """Mean over frames and rigid pairs of (d(a) − d(b))² (Å²); ``a, b (..., N_tot, 3)`` flat
    layout, ``graphs`` from :func:`graphs_of`; 0 when no ligand has a rigid pair."""
    pairs = [g.rigid_pairs + start for start, g in graphs if len(g.rigid_pairs)]
    if not pairs:
        return a.new_zeros(())
    p = torch.as_tensor(np.concatenate(pairs), device=a.device)
    da = (a[..., p[:, 0], :] - a[..., p[:, 1], :]).norm(dim=-1)
    db = (b[..., p[:, 0], :] - b[..., p[:, 1], :]).norm(dim=-1)
    return ((da - db) ** 2).mean()
