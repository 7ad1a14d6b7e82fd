"""Training the torch model in virtual epochs, with checkpoints that survive a kill.

The run sees ``stop_point`` x (train rows) examples in all, cut into ``checkpoints``
virtual epochs of a fixed number of examples, whatever the batch size. After each one it
evaluates on the valid split and atomically saves everything the rest of the run depends
on: weights, optimizer, scheduler, RNG states, step, examples seen, curves and the best
weights so far. The data order is a function of ``(seed, examples seen)``, so a run
resumed from a checkpoint takes exactly the steps an uninterrupted run would have taken.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.functional import binary_cross_entropy_with_logits
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from common.atomic import write_bytes_atomic
from common.errors import PipelineError
from common.params import TorchParams, as_dict
from train.torch_data import SPECIAL_TOKENS, Vocabulary, length_buckets, pad_batch, stream_batches
from train.torch_model import (
    Architecture,
    TextCNN,
    configure_determinism,
    logits_in_batches,
    resolve_device,
)

CHECKPOINT_FILE = "last.pt"
CHECKPOINT_FORMAT = 1
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Split:
    """A split encoded as token ids, with 0/1 labels."""

    ids: list[np.ndarray]
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class TrainedModel:
    architecture: Architecture
    vocabulary: Vocabulary
    state: dict[str, torch.Tensor]
    curves: list[dict[str, float | int]]
    best_virtual_epoch: int
    examples_seen: int
    device: str


class WarmupLinearDecay:
    """Learning-rate factor: linear warm-up over the first steps, then linear decay to 0.

    A class rather than a closure, so the scheduler's state dict records its settings.
    """

    def __init__(self, warmup_steps: int, total_steps: int) -> None:
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        return max(0.0, (self.total_steps - step) / max(1, self.total_steps - self.warmup_steps))


def virtual_epoch_ends(train_rows: int, settings: TorchParams, key: str = "train.torch") -> list[int]:
    """Examples seen at the end of each virtual epoch; the last is ``stop_point`` x rows."""
    total = round(settings.stop_point * train_rows)
    if total < settings.checkpoints:  # some virtual epochs would have no examples
        raise PipelineError(
            f"{key}.checkpoints: {settings.checkpoints} virtual epochs of {total} examples in all "
            f"(stop_point {settings.stop_point} x {train_rows} train rows) leave some empty"
        )
    # Integer arithmetic: each virtual epoch ends at an exact example count, on every machine.
    return [total * epoch // settings.checkpoints for epoch in range(1, settings.checkpoints + 1)]


def steps_of(batches: list[np.ndarray], grad_accum_steps: int) -> list[list[np.ndarray]]:
    """Group micro-batches into optimizer steps; a step never spans two virtual epochs."""
    return [batches[i : i + grad_accum_steps] for i in range(0, len(batches), grad_accum_steps)]


def accumulated_step(
    model: TextCNN,
    optimizer: torch.optim.Optimizer,
    micro_batches: list[tuple[torch.Tensor, torch.Tensor]],
) -> float:
    """One optimizer step over several micro-batches of ``(ids, labels)``; returns the summed loss.

    Each micro-batch's summed loss is divided by the examples of the whole step, not by
    the number of micro-batches, so k micro-batches give the gradient of one batch made of
    all of them, even when their sizes differ.
    """
    examples = sum(len(labels) for _, labels in micro_batches)
    optimizer.zero_grad(set_to_none=True)
    loss_sum = 0.0
    for ids, labels in micro_batches:
        loss = binary_cross_entropy_with_logits(model(ids), labels, reduction="sum")
        (loss / examples).backward()
        loss_sum += float(loss.detach())
    optimizer.step()
    return loss_sum


def validate_model(model: TextCNN, valid: Split, device: torch.device) -> tuple[float, float]:
    """Mean log loss and accuracy on the valid split."""
    logits = logits_in_batches(model, valid.ids, device)
    labels = torch.from_numpy(valid.labels.astype(np.float32))
    loss = float(binary_cross_entropy_with_logits(logits, labels, reduction="mean"))
    accuracy = float(((logits >= 0).float() == labels).float().mean())
    return loss, accuracy


def run_fingerprint(
    settings: TorchParams, seed: int, device: torch.device, train: Split, valid: Split, vocabulary: Vocabulary
) -> str:
    """What a checkpoint must match to be resumed: settings, seed, device, data, vocabulary, torch."""
    digest = hashlib.sha256()
    header = {"settings": as_dict(settings), "seed": seed, "device": device.type, "torch": torch.__version__}
    digest.update(json.dumps(header, sort_keys=True).encode())
    digest.update("\0".join(vocabulary.tokens).encode())
    for split in (train, valid):
        digest.update(split.labels.astype(np.int8).tobytes())
        for ids in split.ids:
            digest.update(len(ids).to_bytes(4, "little"))
            digest.update(ids.tobytes())
    return digest.hexdigest()


def rng_states(device: torch.device) -> dict[str, Any]:
    """Every global RNG, as plain data that ``torch.load(weights_only=True)`` accepts."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if device.type == "cuda" else [],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "python": random.getstate(),
    }


def restore_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"]:
        torch.cuda.set_rng_state_all(states["cuda"])
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))


def cpu_copy(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().to("cpu", copy=True) for name, tensor in state.items()}


def load_checkpoint(path: Path, fingerprint: str) -> dict[str, Any] | None:
    """The checkpoint at ``path`` if it belongs to this run; otherwise ``None`` (start over)."""
    if not path.is_file():
        return None
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a foreign or damaged file: train from scratch rather than fail
        log.warning("%s: cannot be read (%s); training from scratch", path, type(error).__name__)
        return None
    if checkpoint.get("format") != CHECKPOINT_FORMAT or checkpoint.get("fingerprint") != fingerprint:
        log.info("%s: from other settings or data; training from scratch", path)
        return None
    return checkpoint


@dataclass
class Progress:
    """What the run has done so far; every field is saved in each checkpoint."""

    virtual_epoch: int = 0
    step: int = 0
    examples_seen: int = 0
    finished: bool = False
    curves: list[dict[str, float | int]] = field(default_factory=list)
    best_virtual_epoch: int = 0
    best_valid_loss: float = math.inf
    best_model: dict[str, torch.Tensor] | None = None
    epochs_without_improvement: int = 0

    def record(self, end: int, train_loss_sum: float, valid_loss: float, valid_accuracy: float) -> None:
        """Close a virtual epoch that ended at example ``end``."""
        self.virtual_epoch += 1
        self.curves.append(
            {
                "virtual_epoch": self.virtual_epoch,
                "train_loss": round(train_loss_sum / (end - self.examples_seen), 6),
                "valid_loss": round(valid_loss, 6),
                "valid_accuracy": round(valid_accuracy, 6),
            }
        )
        self.examples_seen = end


def plan_steps(
    train: Split, settings: TorchParams, seed: int, ends: list[int]
) -> list[list[list[np.ndarray]]]:
    """The optimizer steps of each virtual epoch, each step a list of micro-batches."""
    buckets = length_buckets(np.array([len(ids) for ids in train.ids]), settings.bucket_ratio)
    return [
        steps_of(stream_batches(buckets, settings.batch_size, seed, lo, hi), settings.grad_accum_steps)
        for lo, hi in zip([0, *ends[:-1]], ends, strict=True)
    ]


def train_torch_model(
    settings: TorchParams,
    seed: int,
    train_texts: list[str],
    train_labels: np.ndarray,
    valid_texts: list[str],
    valid_labels: np.ndarray,
    checkpoint_dir: Path,
) -> TrainedModel:
    """Train on the train split, select the best virtual epoch on the valid split.

    Resumes from ``checkpoint_dir`` when it holds a checkpoint of this very run.
    """
    configure_determinism(settings.num_threads)
    device = resolve_device(settings.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise PipelineError("train.torch.device: cuda requested but torch sees no CUDA device")
    vocabulary = Vocabulary.build(train_texts, settings.max_vocab, settings.min_count, settings.max_tokens)
    if len(vocabulary) == len(SPECIAL_TOKENS):
        raise PipelineError(
            f"train split: no token occurs at least train.torch.min_count ({settings.min_count}) times"
        )
    train = Split(vocabulary.encode_all(train_texts), train_labels)
    valid = Split(vocabulary.encode_all(valid_texts), valid_labels)
    ends = virtual_epoch_ends(len(train), settings)
    epochs = plan_steps(train, settings, seed, ends)
    total_steps = sum(map(len, epochs))

    torch.manual_seed(seed)
    architecture = Architecture.from_settings(settings, len(vocabulary))
    model = TextCNN(architecture).to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    warmup_steps = math.ceil(settings.warmup * total_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, WarmupLinearDecay(warmup_steps, total_steps))

    checkpoint_path = checkpoint_dir / CHECKPOINT_FILE
    fingerprint = run_fingerprint(settings, seed, device, train, valid, vocabulary)
    progress = Progress()
    checkpoint = load_checkpoint(checkpoint_path, fingerprint)
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        restore_rng_states(checkpoint["rng"])
        progress = Progress(**{name: checkpoint[name] for name in Progress.__dataclass_fields__})
        log.info(
            "resuming after virtual epoch %d of %d (%s)", progress.virtual_epoch, len(ends), checkpoint_path
        )

    labels = torch.from_numpy(train.labels.astype(np.float32))
    # On a terminal, a progress bar (log lines go through it so as not to break it); elsewhere
    # (CI, DVC's logs) no bar, only the one log line per virtual epoch.
    bar = tqdm(total=total_steps, initial=progress.step, unit="step", desc="train", disable=None)
    with bar, logging_redirect_tqdm():
        while not progress.finished:
            model.train()
            loss_sum = 0.0
            for step in epochs[progress.virtual_epoch]:
                micro_batches = [
                    (
                        pad_batch([train.ids[i] for i in batch]).to(device),
                        labels[torch.from_numpy(batch)].to(device),
                    )
                    for batch in step
                ]
                loss_sum += accumulated_step(model, optimizer, micro_batches)
                scheduler.step()
                progress.step += 1
                bar.update(1)
            valid_loss, valid_accuracy = validate_model(model, valid, device)
            progress.record(ends[progress.virtual_epoch], loss_sum, valid_loss, valid_accuracy)
            if valid_loss < progress.best_valid_loss:
                progress.best_virtual_epoch, progress.best_valid_loss = progress.virtual_epoch, valid_loss
                progress.best_model = cpu_copy(model.state_dict())
                progress.epochs_without_improvement = 0
            else:
                progress.epochs_without_improvement += 1
            stop_early = 0 < settings.patience <= progress.epochs_without_improvement
            progress.finished = stop_early or progress.virtual_epoch == len(ends)
            row = progress.curves[-1]
            bar.set_postfix(valid_loss=f"{valid_loss:.4f}", valid_accuracy=f"{valid_accuracy:.4f}")
            log.info(
                "virtual epoch %d/%d: train loss %.4f, valid loss %.4f, valid accuracy %.4f",
                progress.virtual_epoch,
                len(ends),
                row["train_loss"],
                row["valid_loss"],
                row["valid_accuracy"],
            )
            save_checkpoint(checkpoint_path, fingerprint, model, optimizer, scheduler, device, progress)
            if stop_early:
                log.info("stopping early: no lower valid loss for %d virtual epochs", settings.patience)

    assert progress.best_model is not None  # at least one virtual epoch has run
    return TrainedModel(
        architecture=architecture,
        vocabulary=vocabulary,
        state=progress.best_model,
        curves=progress.curves,
        best_virtual_epoch=progress.best_virtual_epoch,
        examples_seen=progress.examples_seen,
        device=device.type,
    )


def save_checkpoint(
    path: Path,
    fingerprint: str,
    model: TextCNN,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    device: torch.device,
    progress: Progress,
) -> None:
    """Everything the rest of the run depends on, in one file replaced atomically."""
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "fingerprint": fingerprint,
        "model": cpu_copy(model.state_dict()),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": rng_states(device),
        **vars(progress),
    }
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, buffer.getvalue())


def state_dict_bytes(state: dict[str, torch.Tensor]) -> bytes:
    """The serialized weights; the same tensors always give the same bytes."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()
