"""The contract every method (NeuralMD-ODE/SDE, baselines, reference predictors) fulfils.

A method wraps a network and knows how to (a) compute a training loss on a window of a
trajectory and (b) roll out new snapshots from known ones. ``evaluate``, ``rollout``,
``benchmark`` and ``train`` only ever call these two methods, so they never branch on names.

Time inside a method is measured in snapshot intervals of the training data (dimensionless);
the interval in ps is a property of the data and is stored in the checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pydantic
import torch
from torch import nn


class MethodOptions(pydantic.BaseModel):
    """Hyper-parameters of a method. Subclasses add fields; unknown keys are errors."""

    model_config = pydantic.ConfigDict(extra="forbid")

    #: values of options added after checkpoints were written with the method, which those
    #: checkpoints (their stored options lack the key) load with instead of today's default
    stored_defaults: ClassVar[Mapping[str, Any]] = {}


class Method(nn.Module):
    """Base class of all methods.

    Subclasses set ``name``, ``Options``, ``stochastic`` and ``trainable`` and implement
    :meth:`loss` and :meth:`rollout`.

    Args:
        model_options: BindingNet hyper-parameters (``models.BindingNetOptions`` fields).
        options: this method's ``Options`` instance (or a dict validated into it).
    """

    name: ClassVar[str] = ""
    Options: ClassVar[type[MethodOptions]] = MethodOptions
    stochastic: ClassVar[bool] = False
    trainable: ClassVar[bool] = True
    #: training defaults of this method (``TrainConfig`` fields, ``network`` merged key by key),
    #: under the config file and the flags
    recipe: ClassVar[Mapping[str, Any]] = {}
    #: which loss the method's own training uses by default in each task (``"l1"``/``"mse"``)
    default_loss: ClassVar[Mapping[str, str]] = {"single": "l1", "multi": "mse"}

    def __init__(self, model_options: Mapping[str, Any] | None = None, options: Any = None):
        super().__init__()
        self.model_options = dict(model_options or {})
        if options is None:
            options = {}
        self.options = options if isinstance(options, self.Options) else self.Options(**options)

    def loss(self, batch: Mapping[str, Any], known: int, task: str, loss: str) -> torch.Tensor:
        """Training loss on a batch of trajectory windows.

        Args:
            batch: a collated batch (``data.batch.collate_systems``); ``batch[keys.LIG_POS]`` is
                ``(T, N_tot, 3)`` Å; frames ``[0, known)`` are given, frames ``[known, T)`` are
                the targets. ``batch[keys.ENERGY]`` ``(B, T)`` kcal/mol when the data has it.
            known: number of given leading frames (1 or 2 in the standard protocols).
            task: ``"single"`` or ``"multi"`` (the protocol the window comes from).
            loss: ``"l1"`` (mean absolute error over atoms × xyz) or ``"mse"``.

        Returns:
            Scalar loss tensor (differentiable w.r.t. the method's parameters).
        """
        raise NotImplementedError

    def rollout(
        self,
        batch: Mapping[str, Any],
        n_snapshots: int,
        samples: int = 1,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Predict the next ``n_snapshots`` snapshots after the known ones.

        Args:
            batch: a collated batch whose ``LIG_POS`` ``(H, N_tot, 3)`` holds the known history
                (the last frame is the start; methods use as many trailing frames as they need,
                ``mean-pose`` uses all of them). An optional ``"init_velocity"`` ``(N_tot, 3)``
                Å per snapshot interval overrides the velocity estimated from the history.
            n_snapshots: number of snapshots to predict (S).
            samples: independent samples K (only stochastic methods differ between samples;
                deterministic methods repeat the same trajectory).
            generator: the source of randomness, for reproducible sampling.

        Returns:
            ``(K, S, N_tot, 3)`` predicted ligand heavy-atom positions, Å.
        """
        raise NotImplementedError
