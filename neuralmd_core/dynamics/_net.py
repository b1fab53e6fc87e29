"""Shared plumbing of the BindingNet-backed methods: per-call context, replication, v0 network.

Private to ``neuralmd_core.dynamics``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from neuralmd_core import keys
from neuralmd_core.dynamics._common import MASS_SCALE_AMU, num_systems
from neuralmd_core.dynamics.base import Method
from neuralmd_core.models import BindingNet, ProteinContext, ligand_net

log = logging.getLogger(__name__)


@dataclass
class Context:
    """What every network evaluation of one batch needs; the protein is encoded once.

    Attributes:
        z: ``(N,)`` atomic numbers.  lig_batch: ``(N,)`` system per atom.
        mass: ``(N, 1)`` masses in units of ``MASS_SCALE_AMU`` (12 amu).
        protein: the rigid protein's embedding (``BindingNet.encode_protein``).
        num_systems: B.
        skin: Å; > 0 evaluates the network on Verlet neighbour lists of this skin
            (``models.neighbors``, same output, built on the first evaluation), 0 builds the
            radius graphs at every evaluation.
        neighbors: the neighbour list once built (``False`` where the network offers none).
        compile: evaluate the network through ``torch.compile`` (on the neighbour list's
            edges; eager when compilation fails, with one warning).
    """

    z: torch.Tensor
    lig_batch: torch.Tensor
    mass: torch.Tensor
    protein: ProteinContext
    num_systems: int
    skin: float = 0.0
    neighbors: Any = None
    compile: bool = False

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
            skin=self.skin,
            compile=self.compile,
        )


class NetMethod(Method):
    """A method around one ``BindingNet`` (``self.net``)."""

    def build_net(self, vec_in: bool = False, scalar_in_dim: int = 0) -> None:
        """Create ``self.net`` from ``self.model_options`` (validated: unknown keys are errors)."""
        self.net = BindingNet(vec_in=vec_in, scalar_in_dim=scalar_in_dim, **self.model_options)

    def context(self, batch: Mapping[str, Any], skin: float = 0.0) -> Context:
        """Encode the batch's protein once and gather the per-atom fields.

        ``skin`` (Å): > 0 for rollouts, whose evaluations then share neighbour lists.
        """
        protein = self.net.encode_protein(
            batch[keys.BACKBONE], batch[keys.RES_TYPE], batch[keys.RES_BATCH]
        )
        mass = batch[keys.LIG_MASS].to(batch[keys.LIG_POS].dtype).unsqueeze(-1) / MASS_SCALE_AMU
        compile = bool(getattr(self, "compile_network", False)) and not self.training
        return Context(
            batch[keys.LIG_Z], batch[keys.LIG_BATCH], mass, protein, num_systems(batch), skin,
            compile=compile,
        )  # fmt: skip

    def field(
        self,
        ctx: Context,
        x: torch.Tensor,
        vec_in: torch.Tensor | None = None,
        scalar_in: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """BindingNet's per-atom vector at positions ``x (N, 3)`` → ``(N, 3)``."""
        edges = self._edges(ctx, x, vec_in, scalar_in)
        args = (x, ctx.z, ctx.lig_batch, ctx.protein, vec_in, scalar_in, edges)
        if ctx.compile and edges is not None:
            out = _compiled_call(self, ctx, args)
            if out is not None:
                return out
        return self.net(*args)

    def _edges(self, ctx: Context, x, vec_in=None, scalar_in=None):
        """The context's neighbour-list edges at ``x``, or ``None`` (build the graphs)."""
        if (ctx.skin <= 0 and not ctx.compile) or ctx.neighbors is False:
            return None
        if ctx.neighbors is None:
            self.net.ligand._check(ctx.z, vec_in, scalar_in)  # once: later calls skip it
            ctx.neighbors = self.net.neighbor_list(ctx.lig_batch, ctx.protein, ctx.skin) or False
            if ctx.neighbors is False:
                return None
        return ctx.neighbors(x)

    def parameters_requiring_grad(self) -> tuple[torch.Tensor, ...]:
        """Parameters for the adjoint solvers."""
        return tuple(p for p in self.parameters() if p.requires_grad)


def _compiled_call(method: NetMethod, ctx: Context, args: tuple) -> torch.Tensor | None:
    """``method.net(*args)`` through ``torch.compile`` (dynamic shapes: the edge counts change).

    The compiled forward is made once per method and kept out of its modules and state dict.
    The network's own forward hooks run around it, as around an eager call (hooks inside it
    are not supported while compiled). Returns ``None``, after one warning, when compilation
    fails; the context then stays eager.
    """
    net = method.net
    compiled = method.__dict__.get("_compiled_forward")
    if compiled is None:
        compiled = torch.compile(net.forward, dynamic=True)
        object.__setattr__(method, "_compiled_forward", compiled)
    for hook in net._forward_pre_hooks.values():
        hook(net, args)
    try:
        out = compiled(*args)
    except Exception as exc:  # any backend failure: the eager network gives the same result
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        log.warning("torch.compile failed (%s); running the network eagerly", first)
        ctx.compile = False
        object.__setattr__(method, "_compiled_forward", None)
        return None
    for hook in net._forward_hooks.values():
        hook(net, args, out)
    return out


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
