"""Shared plumbing of the BindingNet-backed methods: per-call context, replication, v0 network.

Private to ``neuralmd_core.dynamics``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from neuralmd_core import keys
from neuralmd_core.dynamics._common import MASS_SCALE_AMU, num_systems
from neuralmd_core.dynamics.base import Method
from neuralmd_core.models import BindingNet, ProteinContext, ligand_net


@dataclass
class Context:
    """What every network evaluation of one batch needs; the protein is encoded once.

    Attributes:
        z: ``(N,)`` atomic numbers.  lig_batch: ``(N,)`` system per atom.
        mass: ``(N, 1)`` masses in units of ``MASS_SCALE_AMU`` (12 amu).
        protein: the rigid protein's embedding (``BindingNet.encode_protein``).
        num_systems: B.
    """

    z: torch.Tensor
    lig_batch: torch.Tensor
    mass: torch.Tensor
    protein: ProteinContext
    num_systems: int

    def replicate(self, k: int) -> Context:
        """``k`` copies as ``k·B`` systems (copy j owns atoms ``j·N..(j+1)·N``), no re-encoding."""
        if k == 1:
            return self
        b, p = self.num_systems, self.protein
        offsets = [j * b for j in range(k)]
        protein = ProteinContext(
            h=torch.cat([p.h] * k),
            ca=torch.cat([p.ca] * k),
            frames=torch.cat([p.frames] * k),
            res_batch=torch.cat([p.res_batch + o for o in offsets]),
            backbone_frames=torch.cat([p.backbone_frames] * k),
        )
        return Context(
            z=torch.cat([self.z] * k),
            lig_batch=torch.cat([self.lig_batch + o for o in offsets]),
            mass=torch.cat([self.mass] * k),
            protein=protein,
            num_systems=k * b,
        )


class NetMethod(Method):
    """A method around one ``BindingNet`` (``self.net``)."""

    def build_net(self, vec_in: bool = False, scalar_in_dim: int = 0) -> None:
        """Create ``self.net`` from ``self.model_options`` (validated: unknown keys are errors)."""
        self.net = BindingNet(vec_in=vec_in, scalar_in_dim=scalar_in_dim, **self.model_options)

    def context(self, batch: Mapping[str, Any]) -> Context:
        """Encode the batch's protein once and gather the per-atom fields."""
        protein = self.net.encode_protein(
            batch[keys.BACKBONE], batch[keys.RES_TYPE], batch[keys.RES_BATCH]
        )
        mass = batch[keys.LIG_MASS].to(batch[keys.LIG_POS].dtype).unsqueeze(-1) / MASS_SCALE_AMU
        return Context(batch[keys.LIG_Z], batch[keys.LIG_BATCH], mass, protein, num_systems(batch))

    def field(
        self,
        ctx: Context,
        x: torch.Tensor,
        vec_in: torch.Tensor | None = None,
        scalar_in: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """BindingNet's per-atom vector at positions ``x (N, 3)`` → ``(N, 3)``."""
        return self.net(x, ctx.z, ctx.lig_batch, ctx.protein, vec_in=vec_in, scalar_in=scalar_in)

    def parameters_requiring_grad(self) -> tuple[torch.Tensor, ...]:
        """Parameters for the adjoint solvers."""
        return tuple(p for p in self.parameters() if p.requires_grad)


class VelocityInit(nn.Module):
    """Initial velocity v0 = raw + LigandNet(x, vec_in=raw).f (or raw alone when disabled).

    ``raw`` (Å per snapshot interval) is the finite difference of the last two known frames (or
    a given velocity); the network corrects it equivariantly, so an untrained network starts
    near the finite difference.
    """

    def __init__(self, model_options: Mapping[str, Any], enabled: bool):
        super().__init__()
        self.net = ligand_net(model_options, vec_in=True) if enabled else None

    def forward(self, ctx: Context, x: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        """``x (N,3)`` Å, ``raw (N,3)`` Å/interval → ``v0 (N,3)`` Å/interval."""
        if self.net is None:
            return raw
        return raw + self.net(x, ctx.z, ctx.lig_batch, vec_in=raw)[1]
