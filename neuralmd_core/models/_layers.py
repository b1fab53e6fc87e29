"""Small building blocks shared by the BindingNet modules."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from neuralmd_core.models.radial import safe_norm


def scatter_sum(src: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    """Sum rows of ``src (E, …)`` into ``size`` bins given by ``index (E,)``; differentiable."""
    out = src.new_zeros((size, *src.shape[1:]))
    return out.index_add_(0, index, src)


def scatter_mean(src: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    """Mean of rows of ``src`` per bin (0 for empty bins)."""
    total = scatter_sum(src, index, size)
    count = torch.bincount(index, minlength=size).clamp(min=1).to(src.dtype)
    return total / count.view(-1, *([1] * (src.dim() - 1)))


def mlp(d_in: int, d_hidden: int, d_out: int, bias_out: bool = True) -> nn.Sequential:
    """``Linear → SiLU → Linear``."""
    return nn.Sequential(
        nn.Linear(d_in, d_hidden), nn.SiLU(), nn.Linear(d_hidden, d_out, bias=bias_out)
    )


def xavier_init(module: nn.Module) -> None:
    """Xavier-uniform weights and zero biases for every ``nn.Linear`` below ``module``."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class FrameMLP(nn.Module):
    """σ = MLP3(q_1, q_2, q_3) + q_1 per channel: scalarised frame coordinates → one invariant.

    Args:
        hidden: width of the 3 → hidden → 1 MLP (the reference uses H/4, or 32 in the protein).
    """

    def __init__(self, hidden: int):
        super().__init__()
        self.net = mlp(3, max(1, hidden), 1)

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        """``q (E, 3, C)`` invariant projections → ``(E, C)``."""
        return frame_mlps(q, (self,))[0]


def frame_mlps(q: torch.Tensor, nets: Sequence[FrameMLP]) -> tuple[torch.Tensor, ...]:
    """Several :class:`FrameMLP` on the same ``q (E, 3, C)`` → one ``(E, C)`` per net.

    Computed channel-major, as two matrix products over all E·C (edge, channel) columns with
    the nets' weights stacked (block-diagonal second layer): a ``Linear(3, h)`` applied per row
    of ``(E·C, 3)`` is one of the slowest shapes a BLAS sees, and three nets in one product
    share the work. Equal to applying each net on its own, up to float rounding.
    """
    e, _, c = q.shape
    first = [n.net[0] for n in nets]
    second = [n.net[2] for n in nets]
    w1 = torch.cat([f.weight for f in first])  # (Σh, 3)
    b1 = torch.cat([f.bias for f in first])
    w2 = torch.block_diag(*(s.weight for s in second))  # (len(nets), Σh)
    b2 = torch.cat([s.bias for s in second])
    cols = q.transpose(0, 1).reshape(3, e * c)
    hidden = nets[0].net[1](torch.addmm(b1.unsqueeze(1), w1, cols))  # (Σh, E·C)
    out = torch.addmm(b2.unsqueeze(1), w2, hidden).view(len(nets), e, c) + q[:, 0, :]
    return out.unbind(0)


class GatedVectorOutput(nn.Module):
    """Gated equivariant output block with one output channel.

    ``ν = |V W1|`` over xyz (eps-safe), ``[o, g] = MLP([s ‖ ν])``, ``f = g · (V w2)``. Linear
    maps act on channels only (no bias on vectors), so ``f`` is equivariant and ``o`` invariant.

    Args:
        hidden: H.
    """

    def __init__(self, hidden: int):
        super().__init__()
        self.w1 = nn.Linear(hidden, hidden, bias=False)
        self.w2 = nn.Linear(hidden, 1, bias=False)
        self.gate = mlp(2 * hidden, hidden, 2)

    def forward(self, s: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``s (N, H)``, ``v (N, 3, H)`` → ``o (N,)`` invariant, ``f (N, 3)`` equivariant."""
        nu = safe_norm(self.w1(v), dim=-2)
        o, g = self.gate(torch.cat([s, nu], -1)).unbind(-1)
        return o, g.unsqueeze(-1) * self.w2(v).squeeze(-1)


class PaperVectorMLP(nn.Module):
    """The reference's ``MLP_out`` on vector rows: LReLU–Lin(H,H)–LReLU–Lin(H,1) per xyz row.

    NOT equivariant (element-wise nonlinearity and bias on vector components); ``paper_compat``.
    """

    def __init__(self, hidden: int, dropout: float = 0.0):
        super().__init__()
        self.net = nn.Sequential(
            nn.LeakyReLU(0.1),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.1),
            nn.Dropout(dropout),
            nn.Linear(hidden, 1),
        )

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        """``v (N, 3, H)`` → ``(N, 3)``."""
        return self.net(v).squeeze(-1)
