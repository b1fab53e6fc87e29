"""The Lightning module: one method, its optimiser, validation by rollout, and the epoch record.

Validation never uses test snapshots: it rolls out from the validation histories prepared by
:mod:`neuralmd_core.training.run` (single: the fit range → the held-out end of the training
range; multi: snapshot 0 of each validation trajectory → its other snapshots) and reports the
paper's MAE (mean over atoms × snapshots of the per-atom L1 norm, Å) and "RMSE" (mean per-atom
Euclidean error, Å), micro-averaged over every atom and snapshot.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader

from neuralmd_core.data.batch import collate_systems
from neuralmd_core.data.system import BindingSystem
from neuralmd_core.dynamics.base import Method
from neuralmd_core.evaluation import metrics
from neuralmd_core.progress import progress
from neuralmd_core.rollout import predict
from neuralmd_core.training.checkpoint import set_rng_state
from neuralmd_core.training.config import TrainConfig
from neuralmd_core.training.tasks import GlobalBatchSampler, WindowDataset, WindowKey

#: rollouts a calibrating method is compared with its references on: snapshots, samples
CALIBRATION_SNAPSHOTS, CALIBRATION_SAMPLES = 200, 4


@dataclass
class ValItem:
    """One validation rollout: ``history.lig_pos`` (H, N, 3) Å → ``target`` (S, N, 3) Å."""

    history: BindingSystem
    target: np.ndarray


def validation_sums(
    method: Method, items: Sequence[ValItem], seed: int, samples: int, device: torch.device
) -> np.ndarray:
    """Roll out every item; return ``[Σ L1, Σ L2, count]`` over (sample, snapshot, atom).

    Divide the first two by the count for the paper's MAE and "RMSE" (Å). The randomness of
    stochastic methods comes from a generator seeded with ``seed + item index``, so every
    validation of a run sees the same noise.
    """
    sums = np.zeros(3)
    for i, item in enumerate(items):
        pred = predict(method, [item.history], len(item.target), samples, seed + i, device)[0]
        n_atoms = item.target.shape[1]
        for k in range(pred.shape[0]):
            sums[0] += metrics.mae(pred[k], item.target).sum() * n_atoms
            sums[1] += metrics.rmse(pred[k], item.target).sum() * n_atoms
        sums[2] += pred.shape[0] * pred.shape[1] * n_atoms
    return sums


class _Cosine:
    """Cosine annealing factor over the whole run (picklable; ``offset`` = epochs already done)."""

    def __init__(self, total: int, offset: int):
        self.total, self.offset = max(total, 1), offset

    def __call__(self, epoch: int) -> float:
        return 0.5 * (1.0 + math.cos(math.pi * min(epoch + self.offset, self.total) / self.total))


class TrainingModule(pl.LightningModule):
    """Trains ``method`` with ``method.loss`` on global batches of windows.

    Args:
        method: the method to train.
        cfg: the resolved config.
        dataset: the window dataset; ``windows`` its training keys.
        val_items: validation rollouts; each DDP process takes every world-size-th one.
        known, loss: frames given per window and the loss name.
        record: ``record(epoch, train_loss, val, module)`` called on every process at the end of
            each epoch (``val`` = ``(mae, rmse)`` or ``None``); the recorder writes on rank 0.
        start_epoch: epochs already done (resume); ``resume``: the saved resume state.
    """

    def __init__(
        self,
        method: Method,
        cfg: TrainConfig,
        dataset: WindowDataset,
        windows: Sequence[WindowKey],
        val_items: Sequence[ValItem],
        known: int,
        loss: str,
        record: Callable[..., None],
        start_epoch: int = 0,
        resume: dict[str, Any] | None = None,
    ):
        super().__init__()
        self.method, self.cfg, self.dataset, self.windows = method, cfg, dataset, list(windows)
        self.val_items, self.known, self.loss_name, self.record = (
            list(val_items),
            known,
            loss,
            record,
        )
        self.start_epoch, self.resume = start_epoch, resume
        self._loss_sum = torch.zeros(2, dtype=torch.float64)
        self._sampler: GlobalBatchSampler | None = None

    def train_dataloader(self) -> DataLoader:
        self._sampler = sampler = GlobalBatchSampler(
            self.windows,
            self.cfg.global_batch_size,
            self.cfg.seed,
            multi=self.cfg.task == "multi",
            max_end=self.cfg.horizon if self.cfg.task == "multi" else None,
            shuffle=self.cfg.shuffle,
            rank=self.trainer.global_rank,
            world_size=self.trainer.world_size,
            epoch_offset=self.start_epoch,
        )
        return DataLoader(
            self.dataset,
            batch_sampler=sampler,
            collate_fn=collate_systems,
            num_workers=self.cfg.num_workers,
            generator=torch.Generator().manual_seed(self.cfg.seed),
        )

    def configure_optimizers(self) -> Any:
        params = [p for p in self.method.parameters() if p.requires_grad]
        cfg = self.cfg
        if cfg.optimizer == "sgd":
            opt = torch.optim.SGD(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        elif cfg.optimizer == "adamw":
            opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        else:
            opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        if self.resume is not None:
            opt.load_state_dict(self.resume["optimizer"])
        if cfg.scheduler == "none":
            return opt
        sched = torch.optim.lr_scheduler.LambdaLR(opt, _Cosine(cfg.epochs, self.start_epoch))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}

    def on_train_start(self) -> None:
        if self.resume is not None:
            set_rng_state(self.resume["rng"])

    def on_train_epoch_start(self) -> None:
        # Lightning only calls set_epoch on a batch sampler's inner sampler: do it here (the
        # batch order is drawn lazily, when the epoch's first batch is requested).
        if self._sampler is not None:
            self._sampler.set_epoch(self.current_epoch)
        self._loss_sum.zero_()

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        loss = self.method.loss(batch, self.known, self.cfg.task, self.loss_name)
        self._loss_sum += torch.tensor([float(loss.detach()), 1.0], dtype=torch.float64)
        return loss

    def _reduce(self, values: np.ndarray | torch.Tensor) -> np.ndarray:
        t = torch.as_tensor(values, dtype=torch.float64, device=self.device)
        return self.trainer.strategy.reduce(t, reduce_op="sum").cpu().numpy()

    def validate_now(self) -> tuple[float, float]:
        """Validation MAE and "RMSE" (Å) over every process's share of the validation set."""
        rank, world = self.trainer.global_rank, self.trainer.world_size
        mine = self.val_items[rank::world]
        with torch.random.fork_rng(devices=[]):
            sums = validation_sums(
                self.method, mine, self.cfg.seed, self.cfg.val_samples, self.device
            )
        self.method.train()
        total = self._reduce(sums)
        return float(total[0] / total[2]), float(total[1] / total[2])

    def calibrate_now(self) -> None:
        """Let a method that calibrates (``method.calibrates``) fit itself to the validation
        items: rollouts of ``CALIBRATION_SNAPSHOTS`` from each history, compared with the history
        itself (single task) or with the item's target frames (multi task: one known frame)."""
        if not getattr(self.method, "calibrates", False) or not self.val_items:
            return
        preds, refs = [], []
        for i, item in enumerate(self.val_items):
            hist = item.history.lig_pos
            with torch.random.fork_rng(devices=[]):
                pred = predict(
                    self.method, [item.history], CALIBRATION_SNAPSHOTS, CALIBRATION_SAMPLES,
                    self.cfg.seed + 7919 + i, self.device,
                )[0]  # fmt: skip
            preds.append(pred)
            refs.append(hist if hist.shape[0] >= 20 else item.target)
        self.method.calibrate(preds, refs)
        self.method.train()

    def on_train_epoch_end(self) -> None:
        epoch = self.start_epoch + self.current_epoch + 1
        loss_sum = self._reduce(self._loss_sum)
        train_loss = float(loss_sum[0] / max(loss_sum[1], 1.0))
        due = epoch % self.cfg.eval_every == 0 or epoch >= self.cfg.epochs
        if due:
            self.calibrate_now()
        val = self.validate_now() if due else None
        self.record(epoch, train_loss, val, self)


class ProgressBar(pl.Callback):
    """One bar on stderr over every training batch of the run (rank 0): ``epoch k/N`` and the loss.

    Drawn by :func:`neuralmd_core.progress.progress`, so only when stderr is a terminal and the
    user did not ask for quiet; Lightning's own bar stays off.
    """

    def __init__(self, total_epochs: int, start_epoch: int = 0):
        self.total, self.start, self.bar = total_epochs, start_epoch, None

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if trainer.global_rank == 0:
            per_epoch = trainer.num_training_batches
            total = (self.total - self.start) * per_epoch if math.isfinite(per_epoch) else None
            self.bar = progress(total=total, desc="train", unit="batch")

    def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if self.bar is not None:
            self.bar.set_description(f"epoch {self.start + trainer.current_epoch + 1}/{self.total}")

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if self.bar is not None:
            loss = outputs["loss"] if isinstance(outputs, dict) else outputs
            self.bar.set_postfix(loss=f"{float(loss):.4g}", refresh=False)
            self.bar.update(1)

    def on_train_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self._close()

    def on_exception(self, trainer, module, exception) -> None:
        self._close()

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
