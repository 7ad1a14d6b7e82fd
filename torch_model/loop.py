"""Training the torch model in virtual epochs, with checkpoints that survive a kill.

The run sees ``stop_point`` x (train rows) examples in all, or ``training_examples`` (a
budget whatever the data size), cut into ``checkpoints`` virtual epochs of a fixed number of
examples, whatever the batch size. After each one it evaluates on the valid split and
atomically saves everything the rest of the run depends on: weights, vocabulary, optimizer,
learning-rate scheduler (``torch_model.schedules``), RNG states, step, examples seen, curves and the
best weights so far. The data order is a function of ``(seed, examples seen)``, so a run
resumed from a checkpoint takes exactly the steps an uninterrupted run would have taken.

``keep_checkpoints: all`` also keeps each virtual epoch's checkpoint; ``init_from`` starts a
new run from one (torch_model/README.md: what a continued run does and does not equal).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import random
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.functional import binary_cross_entropy_with_logits
from torch.optim.lr_scheduler import LRScheduler
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from common.atomic import write_bytes_atomic
from common.errors import PipelineError
from common.params import as_dict
from torch_model import distributed
from torch_model.data import SPECIAL_TOKENS, Vocabulary, length_buckets, pad_batch, stream_batches
from torch_model.model import (
    Architecture,
    TextCNN,
    configure_determinism,
    logits_in_batches,
    resolve_device,
)
from torch_model.params import TorchParams
from torch_model.schedules import build_scheduler, rate_and_beta1

CHECKPOINT_FILE = "last.pt"
# 3: the scheduler's state_dict added. init_from reads what formats 2 and 3 share.
CHECKPOINT_FORMAT = 3
INIT_FORMATS = (2, CHECKPOINT_FORMAT)
KEPT_NAME = re.compile(r"virtual_epoch_(\d+)\.pt")
# settings that do not change what the run computes: changing them keeps a run resumable.
NOT_FINGERPRINTED = ("keep_checkpoints",)
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
    # The virtual epoch of the checkpoint init_from started from; 0 from scratch.
    first_epoch: int = 0
    # Files of the checkpoint folder that a finished run keeps (the rest is removed).
    kept_checkpoints: tuple[str, ...] = ()


def example_budget(train_rows: int, settings: TorchParams) -> int:
    """Examples seen in all: ``training_examples``, or ``stop_point`` x train rows."""
    if settings.training_examples is not None:
        return settings.training_examples
    assert settings.stop_point is not None  # TorchParams.validate: exactly one is set
    return round(settings.stop_point * train_rows)


def virtual_epoch_ends(train_rows: int, settings: TorchParams, key: str = "train.torch") -> list[int]:
    """Examples seen at the end of each virtual epoch; the last is the example budget."""
    total = example_budget(train_rows, settings)
    if total < settings.checkpoints:  # some virtual epochs would have no examples
        budget = (
            f"training_examples {settings.training_examples}"
            if settings.training_examples is not None
            else f"stop_point {settings.stop_point} x {train_rows} train rows"
        )
        raise PipelineError(
            f"{key}.checkpoints: {settings.checkpoints} virtual epochs of {total} examples in all "
            f"({budget}) leave some empty"
        )
    # Integer arithmetic: each virtual epoch ends at an exact example count, on every machine.
    return [total * epoch // settings.checkpoints for epoch in range(1, settings.checkpoints + 1)]


def steps_of(batches: list[np.ndarray], grad_accum_steps: int) -> list[list[np.ndarray]]:
    """Group micro-batches into optimizer steps; a step never spans two virtual epochs."""
    return [batches[i : i + grad_accum_steps] for i in range(0, len(batches), grad_accum_steps)]


def accumulated_step(
    model: torch.nn.Module,  # a TextCNN, or one in DistributedDataParallel
    optimizer: torch.optim.Optimizer,
    micro_batches: list[tuple[torch.Tensor, torch.Tensor]],
    divisor: float | None = None,
) -> float:
    """One optimizer step over several micro-batches of ``(ids, labels)``; returns the summed loss.

    Each micro-batch's summed loss is divided by the examples of the whole step, not by
    the number of micro-batches, so k micro-batches give the gradient of one batch made of
    all of them, even when their sizes differ. ``divisor``: another divisor, for a rank of
    several processes (``torch_model.distributed.loss_divisor``).
    """
    examples = sum(len(labels) for _, labels in micro_batches) if divisor is None else divisor
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
    settings: TorchParams,
    seed: int,
    device: torch.device,
    train: Split,
    valid: Split,
    vocabulary: Vocabulary,
    initial: str = "",
) -> str:
    """What a checkpoint must match to be resumed: settings, seed, device, data, vocabulary,
    torch, and ``initial``, the sha256 of the checkpoint ``init_from`` started from."""
    digest = hashlib.sha256()
    fingerprinted = {k: v for k, v in as_dict(settings).items() if k not in NOT_FINGERPRINTED}
    header = {"settings": fingerprinted, "seed": seed, "device": device.type, "torch": torch.__version__}
    if initial:
        header["initial"] = initial
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
    # legacy=True is the default, which numpy's stubs get wrong (they type a dict, legacy=False);
    # the global MT19937 state is then a tuple.
    state = np.random.get_state(legacy=True)
    assert isinstance(state, tuple)
    kind, keys, pos, has_gauss, cached = state
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
        log.info("%s: from other settings, data or checkpoint format; training from scratch", path)
        return None
    return checkpoint


@dataclass
class Progress:
    """What the run has done so far; every field is saved in each checkpoint.

    ``virtual_epoch`` numbers on from ``first_epoch``, the virtual epoch of the checkpoint
    that ``init_from`` started from (0 from scratch); ``curves`` starts with that
    checkpoint's rows. ``step`` and ``examples_seen`` count this run's alone.
    """

    first_epoch: int = 0
    virtual_epoch: int = 0
    step: int = 0
    examples_seen: int = 0
    finished: bool = False
    curves: list[dict[str, float | int]] = field(default_factory=list)
    best_virtual_epoch: int = 0
    best_valid_loss: float = math.inf
    best_model: dict[str, torch.Tensor] | None = None
    epochs_without_improvement: int = 0

    @property
    def epochs_run(self) -> int:
        return self.virtual_epoch - self.first_epoch

    def record(
        self,
        end: int,
        train_loss_sum: float,
        valid_loss: float,
        valid_accuracy: float,
        learning_rate: float,
        beta1: float,
    ) -> None:
        """Close a virtual epoch that ended at example ``end``; ``learning_rate`` and ``beta1``
        are those of its last optimizer step."""
        self.virtual_epoch += 1
        self.curves.append(
            {
                "virtual_epoch": self.virtual_epoch,
                "train_loss": round(train_loss_sum / (end - self.examples_seen), 6),
                "valid_loss": round(valid_loss, 6),
                "valid_accuracy": round(valid_accuracy, 6),
                "learning_rate": float(f"{learning_rate:.6g}"),
                "beta1": round(beta1, 6),
            }
        )
        self.examples_seen = end

    def select(self, valid_loss: float, model: torch.nn.Module) -> None:
        """Keep the weights of the virtual epoch just recorded if its valid loss is the lowest yet."""
        if valid_loss < self.best_valid_loss:
            self.best_virtual_epoch, self.best_valid_loss = self.virtual_epoch, valid_loss
            self.best_model = cpu_copy(model.state_dict())
            self.epochs_without_improvement = 0
        else:
            self.epochs_without_improvement += 1


def plan_steps(
    train: Split, settings: TorchParams, seed: int, ends: list[int]
) -> list[list[list[np.ndarray]]]:
    """The optimizer steps of each virtual epoch, each step a list of micro-batches."""
    buckets = length_buckets(np.array([len(ids) for ids in train.ids]), settings.bucket_ratio)
    return [
        steps_of(stream_batches(buckets, settings.batch_size, seed, lo, hi), settings.grad_accum_steps)
        for lo, hi in zip([0, *ends[:-1]], ends, strict=True)
    ]


def kept_checkpoint_name(virtual_epoch: int) -> str:
    """The file name of a virtual epoch's kept checkpoint (``keep_checkpoints: all``)."""
    return f"virtual_epoch_{virtual_epoch:03d}.pt"


def kept_virtual_epoch(name: str) -> int | None:
    """The virtual epoch of a kept checkpoint's file name; ``None`` for other names."""
    match = KEPT_NAME.fullmatch(name)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class Initial:
    """The checkpoint that ``init_from`` starts a run from."""

    path: Path
    sha256: str
    virtual_epoch: int
    tokens: tuple[str, ...]
    model: dict[str, torch.Tensor]
    curves: list[dict[str, float | int]]


def init_checkpoint_path(init_from: int | str, checkpoint_dir: Path) -> Path:
    """``init_from``'s file: a kept virtual epoch of ``checkpoint_dir``, or a path."""
    if isinstance(init_from, int):
        return checkpoint_dir / kept_checkpoint_name(init_from)
    return Path(init_from)


def load_initial(init_from: int | str, checkpoint_dir: Path, key: str = "train.torch.init_from") -> Initial:
    """Read the checkpoint a run starts from; errors name ``key`` and the file."""
    path = init_checkpoint_path(init_from, checkpoint_dir)
    if not path.is_file():
        hint = (
            " (a run with train.torch.keep_checkpoints: all keeps them)" if isinstance(init_from, int) else ""
        )
        raise PipelineError(f"{key}: {path} not found{hint}")
    data = path.read_bytes()
    try:
        checkpoint = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as error:
        raise PipelineError(
            f"{key}: {path} cannot be read as a checkpoint ({type(error).__name__})"
        ) from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") not in INIT_FORMATS:
        raise PipelineError(
            f"{key}: {path} is not a checkpoint of this pipeline (format {CHECKPOINT_FORMAT})"
        )
    return Initial(
        path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        virtual_epoch=int(checkpoint["virtual_epoch"]),
        tokens=tuple(checkpoint["vocabulary"]),
        model=checkpoint["model"],
        curves=list(checkpoint["curves"]),
    )


def kept_after_run(
    checkpoint_dir: Path, settings: TorchParams, initial: Initial | None, progress: Progress
) -> tuple[str, ...]:
    """The files of ``checkpoint_dir`` a finished run keeps: with ``keep_checkpoints: all``
    its own virtual epochs' checkpoints; with ``init_from`` a virtual epoch k, the kept
    checkpoints up to k as well, so that running it again starts from the same file."""
    keep: set[str] = set()
    if settings.keep_checkpoints == "all":
        epochs = range(progress.first_epoch + 1, progress.virtual_epoch + 1)
        keep.update(kept_checkpoint_name(epoch) for epoch in epochs)
    if initial is not None and isinstance(settings.init_from, int):
        for path in checkpoint_dir.iterdir():
            epoch = kept_virtual_epoch(path.name)
            if epoch is not None and epoch <= settings.init_from:
                keep.add(path.name)
    return tuple(sorted(keep))


CurvesCallback = Callable[[list[dict[str, float | int]]], None]


@dataclass(frozen=True)
class Run:
    """What every virtual epoch of one run reads: set up once, before the first."""

    settings: TorchParams
    seed: int
    world: distributed.World
    device: torch.device
    vocabulary: Vocabulary
    train: Split
    valid: Split
    train_labels: torch.Tensor  # train.labels as the loss takes them
    ends: list[int]
    epochs: list[list[list[np.ndarray]]]
    model: TextCNN
    optimizer: torch.optim.Optimizer
    scheduler: LRScheduler
    checkpoint_dir: Path
    fingerprint: str

    @property
    def checkpoint_path(self) -> Path:
        return self.checkpoint_dir / CHECKPOINT_FILE


def setup_device(settings: TorchParams) -> tuple[distributed.World, torch.device]:
    """This process's place among the training processes and its device; deterministic kernels."""
    configure_determinism(settings.num_threads)
    device = resolve_device(settings.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise PipelineError("train.torch.device: cuda requested but torch sees no CUDA device")
    return distributed.setup(device)  # under torch.distributed.run (torch_model/distributed.py)


def run_vocabulary(settings: TorchParams, train_texts: list[str], initial: Initial | None) -> Vocabulary:
    """The train split's vocabulary, or with ``init_from`` the checkpoint's."""
    if initial is not None:  # fine-tuning keeps the embeddings' rows: the checkpoint's vocabulary
        vocabulary = Vocabulary(initial.tokens, settings.max_tokens)
    else:
        vocabulary = Vocabulary.build(
            train_texts, settings.max_vocab, settings.min_count, settings.max_tokens
        )
    if len(vocabulary) == len(SPECIAL_TOKENS):
        raise PipelineError(
            f"train split: no token occurs at least train.torch.min_count ({settings.min_count}) times"
        )
    return vocabulary


def initial_model(
    settings: TorchParams, seed: int, vocabulary: Vocabulary, initial: Initial | None, device: torch.device
) -> tuple[Architecture, TextCNN]:
    """The model before its first step: drawn from ``seed``, or ``init_from``'s weights."""
    torch.manual_seed(seed)
    # Nothing here draws from Python's or NumPy's global generators, but each checkpoint saves
    # their states: seeded, a checkpoint's bytes (a DVC output when kept) repeat too.
    random.seed(seed)
    np.random.seed(seed)
    architecture = Architecture.from_settings(settings, len(vocabulary))
    model = TextCNN(architecture)
    if initial is not None:
        try:
            model.load_state_dict(initial.model)
        except RuntimeError as error:
            raise PipelineError(
                f"train.torch.init_from: {initial.path} holds a model of another shape than train.torch's "
                f"embedding_dim, channels and kernel_size ({str(error).splitlines()[-1].strip()})"
            ) from None
    return architecture, model.to(device)


def starting_progress(run: Run, initial: Initial | None) -> Progress:
    """Where the run starts: after the checkpoint of this very run in ``checkpoint_dir`` (model,
    optimizer, scheduler and RNG states restored), else at ``init_from``'s virtual epoch or 0."""
    progress = Progress()
    if initial is not None:
        progress = Progress(
            first_epoch=initial.virtual_epoch,
            virtual_epoch=initial.virtual_epoch,
            curves=list(initial.curves),
        )
        log.info("starting from virtual epoch %d of %s", initial.virtual_epoch, initial.path)
    checkpoint = load_checkpoint(run.checkpoint_path, run.fingerprint)
    if checkpoint is None:
        return progress
    run.model.load_state_dict(checkpoint["model"])
    run.optimizer.load_state_dict(checkpoint["optimizer"])
    run.scheduler.load_state_dict(checkpoint["scheduler"])
    restore_rng_states(checkpoint["rng"])
    progress = Progress(**{name: checkpoint[name] for name in Progress.__dataclass_fields__})
    log.info(
        "resuming after virtual epoch %d of %d (%s)",
        progress.epochs_run,
        len(run.ends),
        run.checkpoint_path,
    )
    return progress


def micro_batches(run: Run, step: list[np.ndarray]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The ``(ids, labels)`` of an optimizer step's micro-batches, on the device."""
    return [
        (
            pad_batch([run.train.ids[i] for i in batch])[rows].to(run.device),
            run.train_labels[torch.from_numpy(batch[rows])].to(run.device),
        )
        for batch in step
        for rows in [distributed.shard(len(batch), run.world)]  # all rows, or this rank's
    ]


def train_virtual_epoch(
    run: Run, trainer: torch.nn.Module, progress: Progress, bar: tqdm
) -> tuple[float, float, float]:
    """The optimizer steps of the next virtual epoch. Returns the train loss summed over its
    examples (on every rank) and the learning rate and beta1 of its last step."""
    run.model.train()
    distributed.seed_virtual_epoch(run.seed, progress.virtual_epoch, run.world)
    loss_sum, learning_rate, beta1 = 0.0, math.nan, math.nan  # each virtual epoch has a step
    for step in run.epochs[progress.epochs_run]:
        batches = micro_batches(run, step)
        divisor = distributed.loss_divisor(sum(map(len, step)), run.world)
        learning_rate, beta1 = rate_and_beta1(run.optimizer)  # this step's, for the curves
        loss_sum += accumulated_step(trainer, run.optimizer, batches, divisor)
        run.scheduler.step()
        progress.step += 1
        bar.update(1)
    return distributed.total(loss_sum, run.world), learning_rate, beta1


def stops_early(settings: TorchParams, progress: Progress) -> bool:
    """``patience`` virtual epochs in a row without a lower valid loss (0: never)."""
    return 0 < settings.patience <= progress.epochs_without_improvement


def log_virtual_epoch(run: Run, progress: Progress) -> None:
    """The one log line of the virtual epoch just recorded."""
    row = progress.curves[-1]
    log.info(
        "virtual epoch %d/%d: train loss %.4f, valid loss %.4f, valid accuracy %.4f, learning rate %.3g",
        progress.virtual_epoch,
        progress.first_epoch + len(run.ends),
        row["train_loss"],
        row["valid_loss"],
        row["valid_accuracy"],
        row["learning_rate"],
    )


def save_virtual_epoch(run: Run, progress: Progress) -> None:
    """The checkpoint after the virtual epoch just closed; with ``keep_checkpoints: all`` its
    kept copy too."""
    kept = run.checkpoint_dir / kept_checkpoint_name(progress.virtual_epoch)
    save_checkpoint(
        run.checkpoint_path,
        run.fingerprint,
        run.model,
        run.optimizer,
        run.scheduler,
        run.device,
        run.vocabulary,
        progress,
        copies=(kept,) if run.settings.keep_checkpoints == "all" else (),
    )


def train_virtual_epochs(run: Run, progress: Progress, on_virtual_epoch: CurvesCallback | None) -> None:
    """Train, validate and checkpoint virtual epochs from ``progress`` on, until the last one
    or an early stop."""
    trainer = distributed.wrap(run.model, run.world, run.device)  # every rank has loaded the checkpoint
    # On a terminal, a progress bar (log lines go through it so as not to break it); elsewhere
    # (CI, DVC's logs) no bar, only the one log line per virtual epoch.
    bar = tqdm(
        total=sum(map(len, run.epochs)),
        initial=progress.step,
        unit="step",
        desc="train",
        disable=None if run.world.is_main else True,
    )
    with bar, logging_redirect_tqdm():
        while not progress.finished:
            loss_sum, learning_rate, beta1 = train_virtual_epoch(run, trainer, progress, bar)
            valid_loss, valid_accuracy = validate_model(run.model, run.valid, run.device)
            end = run.ends[progress.epochs_run]
            progress.record(end, loss_sum, valid_loss, valid_accuracy, learning_rate, beta1)
            progress.select(valid_loss, run.model)
            stop_early = stops_early(run.settings, progress)
            progress.finished = stop_early or progress.epochs_run == len(run.ends)
            bar.set_postfix(valid_loss=f"{valid_loss:.4f}", valid_accuracy=f"{valid_accuracy:.4f}")
            log_virtual_epoch(run, progress)
            if run.world.is_main:  # one writer of the checkpoints (and model/) however many processes
                save_virtual_epoch(run, progress)
                if on_virtual_epoch is not None:
                    on_virtual_epoch(progress.curves)
            if stop_early:
                log.info("stopping early: no lower valid loss for %d virtual epochs", run.settings.patience)


def train_torch_model(
    settings: TorchParams,
    seed: int,
    train_texts: list[str],
    train_labels: np.ndarray,
    valid_texts: list[str],
    valid_labels: np.ndarray,
    checkpoint_dir: Path,
    on_virtual_epoch: CurvesCallback | None = None,
) -> TrainedModel:
    """Train on the train split, select the best virtual epoch on the valid split.

    Resumes from ``checkpoint_dir`` when it holds a checkpoint of this very run. With
    ``init_from``, the initial weights and the vocabulary come from that checkpoint; all
    else (optimizer, schedule, data order, RNG) starts as in a run from scratch.

    ``on_virtual_epoch`` gets every curves row so far after each virtual epoch's checkpoint,
    and once before training when a checkpoint (or ``init_from``) already holds rows, so what
    it writes from them after a resume equals what an uninterrupted run wrote (train/live.py).
    """
    world, device = setup_device(settings)
    initial = load_initial(settings.init_from, checkpoint_dir) if settings.init_from is not None else None
    vocabulary = run_vocabulary(settings, train_texts, initial)
    train = Split(vocabulary.encode_all(train_texts), train_labels)
    valid = Split(vocabulary.encode_all(valid_texts), valid_labels)
    ends = virtual_epoch_ends(len(train), settings)
    epochs = plan_steps(train, settings, seed, ends)
    architecture, model = initial_model(settings, seed, vocabulary, initial, device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    run = Run(
        settings=settings,
        seed=seed,
        world=world,
        device=device,
        vocabulary=vocabulary,
        train=train,
        valid=valid,
        train_labels=torch.from_numpy(train.labels.astype(np.float32)),
        ends=ends,
        epochs=epochs,
        model=model,
        optimizer=optimizer,
        # Before a checkpoint's optimizer state is loaded: building it sets the rate.
        scheduler=build_scheduler(optimizer, settings, sum(map(len, epochs))),
        checkpoint_dir=checkpoint_dir,
        fingerprint=run_fingerprint(
            settings, seed, device, train, valid, vocabulary, initial.sha256 if initial is not None else ""
        ),
    )
    progress = starting_progress(run, initial)
    if on_virtual_epoch is not None and progress.curves and world.is_main:
        on_virtual_epoch(progress.curves)
    train_virtual_epochs(run, progress, on_virtual_epoch)

    assert progress.best_model is not None  # at least one virtual epoch has run
    distributed.finish(world)  # the other ranks exit here
    return TrainedModel(
        architecture=architecture,
        vocabulary=vocabulary,
        state=progress.best_model,
        curves=progress.curves,
        best_virtual_epoch=progress.best_virtual_epoch,
        examples_seen=progress.examples_seen,
        device=device.type,
        first_epoch=progress.first_epoch,
        kept_checkpoints=kept_after_run(checkpoint_dir, settings, initial, progress),
    )


def canonical(value: Any) -> Any:
    """``value`` rebuilt so that its pickle depends on its contents alone: fresh containers and
    interned strings. Pickle writes an object met twice as a reference to the first, so the
    same curves built in one process, or partly loaded from a checkpoint, would otherwise give
    other bytes (a resumed run's kept checkpoints would differ from an uninterrupted run's)."""
    if isinstance(value, dict):
        return {canonical(key): canonical(item) for key, item in value.items()}
    if isinstance(value, list):
        return [canonical(item) for item in value]
    if isinstance(value, tuple):
        return tuple(canonical(item) for item in value)
    if isinstance(value, str):
        return sys.intern(value)
    return value


def save_checkpoint(
    path: Path,
    fingerprint: str,
    model: TextCNN,
    optimizer: torch.optim.Optimizer,
    scheduler: LRScheduler,
    device: torch.device,
    vocabulary: Vocabulary,
    progress: Progress,
    copies: tuple[Path, ...] = (),
) -> None:
    """Everything the rest of the run depends on, in one file replaced atomically; the same
    bytes also go to each of ``copies`` (the kept checkpoint of this virtual epoch)."""
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "fingerprint": fingerprint,
        "model": cpu_copy(model.state_dict()),
        "vocabulary": list(vocabulary.tokens),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": rng_states(device),
        **vars(progress),
    }
    buffer = io.BytesIO()
    torch.save(canonical(checkpoint), buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    for target in (*copies, path):  # the kept copy first: a kill between the two redoes the epoch
        write_bytes_atomic(target, buffer.getvalue())


def state_dict_bytes(state: dict[str, torch.Tensor]) -> bytes:
    """The serialized weights; the same tensors always give the same bytes."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()
