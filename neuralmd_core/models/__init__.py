"""Networks only (no losses, no solvers): BindingNet and its building blocks."""

from neuralmd_core.models._ligand import LigandNet, system_centroids
from neuralmd_core.models._protein import ProteinContext, ProteinNet
from neuralmd_core.models.bindingnet import BindingNet, BindingNetOptions, ligand_net
from neuralmd_core.models.frames import backbone_frames, edge_frames, residue_frames, scalarize
from neuralmd_core.models.radial import (
    ExpNormalSmearing,
    cosine_cutoff,
    radius_bipartite,
    radius_graph,
    safe_norm,
    smooth_normalize,
)

__all__ = [
    "BindingNet",
    "BindingNetOptions",
    "ExpNormalSmearing",
    "LigandNet",
    "ProteinContext",
    "ProteinNet",
    "backbone_frames",
    "cosine_cutoff",
    "edge_frames",
    "ligand_net",
    "radius_bipartite",
    "radius_graph",
    "residue_frames",
    "safe_norm",
    "scalarize",
    "smooth_normalize",
    "system_centroids",
]
