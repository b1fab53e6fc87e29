"""BindingNet: ligand (atom-level) + protein (backbone-level) + complex (residue-level) modules.

Per-atom output ``F = f_internal (ligand module) + f_external (complex module)``, exactly
SE(3)-equivariant in the default configuration. See ``docs/model.md`` for every tensor's shape and
unit and for every deviation from the reference code.
"""

from __future__ import annotations

from typing import Any

import pydantic
import torch
from torch import nn

from neuralmd_core.models._layers import GatedVectorOutput, PaperVectorMLP, scatter_sum, xavier_init
from neuralmd_core.models._ligand import LigandNet
from neuralmd_core.models._protein import ComplexLayer, ProteinContext, ProteinNet, complex_edges
from neuralmd_core.models.neighbors import ROLLOUT_SKIN_A, Edges, NeighborList
from neuralmd_core.models.radial import PAPER_MAX_NEIGHBORS


class BindingNetOptions(pydantic.BaseModel):
    """BindingNet hyper-parameters (unknown keys are errors).

    Attributes:
        hidden: H, feature channels.
        num_radial: K, radial basis functions.
        cutoff: c in Å, shared by the three graphs.
        num_ligand_layers: message-passing layers of the ligand module.
        num_complex_layers: residue → atom layers of the complex module.
        max_z: atom-type embedding rows (atomic numbers 0..max_z−1).
        max_neighbors: optional neighbour cap per centre; exceeding it raises ``ValueError``
            (with ``paper_compat`` it truncates, and defaults to 32, as torch_cluster did).
        paper_compat: reproduce the reference code's non-equivariant pieces (see docs/model.md).
        num_residue_types: residue-type embedding rows (``keys.NUM_RESIDUE_TYPES`` = 21 needed).
        frame_eps: softening in Å² of the ligand edge frames' cross-product axis.
        dropout: dropout in the protein bond MLP (the reference's 0.2 is kept out by default).
    """

    model_config = pydantic.ConfigDict(extra="forbid")

    hidden: int = pydantic.Field(128, ge=4)
    num_radial: int = pydantic.Field(96, ge=1)
    cutoff: float = pydantic.Field(5.0, gt=0)
    num_ligand_layers: int = pydantic.Field(4, ge=0)
    num_complex_layers: int = pydantic.Field(1, ge=0)
    max_z: int = pydantic.Field(100, ge=2)
    max_neighbors: int | None = pydantic.Field(None, ge=1)
    paper_compat: bool = False
    num_residue_types: int = pydantic.Field(26, ge=21)
    frame_eps: float = pydantic.Field(0.1, gt=0)
    dropout: float = pydantic.Field(0.0, ge=0, lt=1)


def ligand_net(
    options: BindingNetOptions | dict[str, Any] | None = None,
    vec_in: bool = False,
    scalar_in_dim: int = 0,
) -> LigandNet:
    """A stand-alone :class:`LigandNet` sized like BindingNet's ligand module.

    Args:
        options: BindingNet options (validated; unknown keys are errors).
        vec_in: accept an equivariant ``(N, 3)`` input vector.
        scalar_in_dim: width of an invariant ``(N, S)`` input.
    """
    o = (
        options
        if isinstance(options, BindingNetOptions)
        else BindingNetOptions(**dict(options or {}))
    )
    return LigandNet(
        hidden=o.hidden,
        num_radial=o.num_radial,
        cutoff=o.cutoff,
        num_layers=o.num_ligand_layers,
        max_z=o.max_z,
        vec_in=vec_in,
        scalar_in_dim=scalar_in_dim,
        max_neighbors=o.max_neighbors,
        paper_compat=o.paper_compat,
        frame_eps=o.frame_eps,
    )


class BindingNet(nn.Module):
    """The multi-grained SE(3)-equivariant force network.

    Args:
        vec_in: the ligand module takes an equivariant per-atom input vector ``(N, 3)``.
        scalar_in_dim: width of an optional invariant per-atom input ``(N, S)``.
        **options: :class:`BindingNetOptions` fields.
    """

    def __init__(self, vec_in: bool = False, scalar_in_dim: int = 0, **options: Any):
        super().__init__()
        opts = BindingNetOptions(**options)
        self.options = opts
        self.max_neighbors = opts.max_neighbors
        if opts.paper_compat and self.max_neighbors is None:
            self.max_neighbors = PAPER_MAX_NEIGHBORS
        self.ligand = ligand_net(opts, vec_in=vec_in, scalar_in_dim=scalar_in_dim)
        self.protein = ProteinNet(
            hidden=opts.hidden,
            num_radial=opts.num_radial,
            cutoff=opts.cutoff,
            num_residue_types=opts.num_residue_types,
            max_neighbors=opts.max_neighbors,
            paper_compat=opts.paper_compat,
            dropout=opts.dropout,
        )
        self.complex_layers = nn.ModuleList(
            ComplexLayer(opts.hidden, opts.num_radial, opts.cutoff, opts.paper_compat)
            for _ in range(opts.num_complex_layers)
        )
        self.out = GatedVectorOutput(opts.hidden)
        xavier_init(self.out)
        self.paper_out = PaperVectorMLP(opts.hidden, opts.dropout) if opts.paper_compat else None

    def encode_protein(
        self, backbone: torch.Tensor, res_type: torch.Tensor, res_batch: torch.Tensor
    ) -> ProteinContext:
        """Embed the rigid protein once; reuse the result for every solver step.

        Args:
            backbone: ``(R, 3, 3)`` Å, ``[:, 0] = N``, ``[:, 1] = CA``, ``[:, 2] = C``.
            res_type: ``(R,)`` long residue-type indices (``keys.RESIDUE_VOCAB``).
            res_batch: ``(R,)`` long system index per residue.

        Returns:
            :class:`ProteinContext` with ``h (R,H)``, ``ca (R,3)``, ``frames (R,3,3)``, ``res_batch``.
        """
        return self.protein(backbone, res_type, res_batch)

    def neighbor_list(
        self, lig_batch: torch.Tensor, protein: ProteinContext, skin: float = ROLLOUT_SKIN_A
    ) -> NeighborList | None:
        """A Verlet list for repeated evaluations of these systems (``models.neighbors``), or
        ``None`` where its skin would change the output (``paper_compat``, or a
        ``max_neighbors`` cap): the caller then passes no ``edges``."""
        if self.options.paper_compat or self.max_neighbors is not None:
            return None
        return NeighborList(self.options.cutoff, skin, lig_batch, protein)

    def _complex(self, pos, z, lig_batch, protein, vec_in, scalar_in, nbrs: Edges | None = None):
        """Ligand features and complex-layer output: ``s (N,H)``, ``V``/``U (N,3,H)``, ``c (N,H)``."""
        s, v = self.ligand.features(pos, z, lig_batch, vec_in, scalar_in, nbrs)
        u = torch.zeros_like(v)
        c = torch.zeros_like(s)
        if not self.complex_layers:
            return s, v, u, c
        if nbrs is None:
            edges = complex_edges(
                pos, lig_batch, protein, self.options.cutoff, self.max_neighbors,
                self.options.paper_compat,
            )  # fmt: skip
        else:
            edges = nbrs.complex
        for layer in self.complex_layers:
            u, c = layer(pos, s, u, c, protein, edges)
        return s, v, u, c

    def forward(
        self,
        pos: torch.Tensor,
        z: torch.Tensor,
        lig_batch: torch.Tensor,
        protein: ProteinContext,
        vec_in: torch.Tensor | None = None,
        scalar_in: torch.Tensor | None = None,
        edges: Edges | None = None,
    ) -> torch.Tensor:
        """Per-atom force-like vector.

        Args:
            pos: ligand heavy-atom positions ``(N, 3)``, Å.
            z: atomic numbers ``(N,)`` long.
            lig_batch: system index per atom ``(N,)`` long.
            protein: from :meth:`encode_protein` (same systems as ``lig_batch``).
            vec_in: optional equivariant input ``(N, 3)`` (needs ``vec_in=True`` at build).
            scalar_in: optional invariant input ``(N, S)`` (needs ``scalar_in_dim = S``).
            edges: the edges a :meth:`neighbor_list` returns (the radius graphs' edges, so the
                same output, without building them here); ``None`` builds the radius graphs.

        Returns:
            ``(N, 3)`` = internal (ligand) + external (complex) vector, in the unit the training
            target gives it (e.g. Å per snapshot interval² times amu for a force).
        """
        s, v, u, c = self._complex(pos, z, lig_batch, protein, vec_in, scalar_in, edges)
        internal = self.ligand.out(s, v)[1]
        if self.paper_out is not None:
            return internal + self.paper_out(u)
        return internal + self.out(s + c, u)[1]

    def energy(
        self,
        pos: torch.Tensor,
        z: torch.Tensor,
        lig_batch: torch.Tensor,
        protein: ProteinContext,
        num_systems: int,
        edges: Edges | None = None,
    ) -> torch.Tensor:
        """Per-system invariant scalar (an energy for VerletMD), twice differentiable in ``pos``.

        Args:
            pos: ``(N, 3)`` Å; z, lig_batch, protein as in :meth:`forward`.
            num_systems: B.
            edges: as in :meth:`forward`.

        Returns:
            ``(B,)`` sum over each system's atoms of the invariant per-atom output (unit of the
            training label, e.g. kcal/mol).
        """
        s, v, u, c = self._complex(pos, z, lig_batch, protein, None, None, edges)
        o_lig = self.ligand.out(s, v)[0]
        o_cpx = self.out(s + c, u)[0]
        return scatter_sum(o_lig + o_cpx, lig_batch, num_systems)
