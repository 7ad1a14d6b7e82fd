"""The torch training loop in process, on small data: accumulation, virtual epochs, resume logic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch.nn.functional import binary_cross_entropy_with_logits

from common.errors import PipelineError
from common.params import load_params, updated
from tests.train_support import phrases
from torch_model.data import Vocabulary, pad_batch
from torch_model.loop import (
    CHECKPOINT_FILE,
    TrainedModel,
    accumulated_step,
    state_dict_bytes,
    train_torch_model,
    virtual_epoch_ends,
)
from torch_model.model import Architecture, TextCNN, configure_determinism, positive_probabilities
from torch_model.params import TorchParams
from torch_model.tests.support import SMALL


def small_model(seed: int = 0, dropout: float = 0.0) -> TextCNN:
    torch.manual_seed(seed)
    return TextCNN(Architecture(vocab_size=30, embedding_dim=8, channels=6, kernel_size=3, dropout=dropout))


def test_gradient_accumulation_equals_one_batch_of_all_micro_batches() -> None:
    configure_determinism(1)
    rng = np.random.default_rng(0)
    # Micro-batches of different sizes and lengths (as length buckets make them).
    sizes, widths = [5, 2, 9], [3, 11, 6]
    sequences = [[rng.integers(2, 30, size=w) for _ in range(n)] for n, w in zip(sizes, widths, strict=True)]
    labels = [torch.from_numpy(rng.integers(0, 2, size=n).astype(np.float32)) for n in sizes]
    micro = [(pad_batch(s), y) for s, y in zip(sequences, labels, strict=True)]
    whole = [(pad_batch([s for seqs in sequences for s in seqs]), torch.cat(labels))]

    results = []
    for batches in (micro, whole):
        model = small_model()
        # Plain SGD: its update is proportional to the gradient, so a wrongly scaled gradient shows.
        optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
        loss = accumulated_step(model, optimizer, batches)
        grads = {name: p.grad.clone() for name, p in model.named_parameters()}
        results.append((loss, grads, {name: p.detach().clone() for name, p in model.named_parameters()}))
    (micro_loss, micro_grads, micro_params), (whole_loss, whole_grads, whole_params) = results
    assert micro_loss == pytest.approx(whole_loss, rel=1e-5)
    for name in whole_params:
        torch.testing.assert_close(micro_grads[name], whole_grads[name], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(micro_params[name], whole_params[name], rtol=1e-5, atol=1e-6)

    # The mistake the normalization avoids: averaging each micro-batch, then the k averages.
    model = small_model()
    for ids, y in micro:
        (binary_cross_entropy_with_logits(model(ids), y) / len(micro)).backward()
    naive = model.output.weight.grad
    assert not torch.allclose(naive, whole_grads["output.weight"], rtol=1e-3, atol=1e-5)


def test_a_text_scores_the_same_alone_or_padded_in_a_batch() -> None:
    configure_determinism(1)
    vocabulary = Vocabulary.build(phrases(200, seed=0)[0], 100, 1, 64)
    model = small_model(dropout=0.5)
    model.embedding = torch.nn.Embedding(len(vocabulary), 8, padding_idx=0)
    texts = ["good movie", "the plot was dull and weak " * 6, "fun"]
    together = positive_probabilities(model, vocabulary, texts)
    alone = np.concatenate([positive_probabilities(model, vocabulary, [t]) for t in texts])
    np.testing.assert_allclose(together, alone, rtol=1e-5)
    ids = pad_batch([vocabulary.encode(t) for t in texts], pad_to=100)
    padded = torch.sigmoid(model.eval()(ids)).detach().double().numpy()
    np.testing.assert_allclose(padded, alone, rtol=1e-5)


def train_small(settings: TorchParams, checkpoint_dir: Path, rows: int = 240) -> TrainedModel:
    texts, labels = phrases(rows, seed=1)
    valid_texts, valid_labels = phrases(60, seed=2)
    return train_torch_model(
        settings, 7, texts, np.array(labels), valid_texts, np.array(valid_labels), checkpoint_dir
    )


def test_virtual_epochs_see_stop_point_times_the_rows_whatever_the_batch_size(tmp_path: Path) -> None:
    assert virtual_epoch_ends(240, SMALL) == [120, 240, 360]
    seen = []
    for batch_size, accumulation in [(16, 1), (5, 3)]:
        settings = updated(SMALL, batch_size=batch_size, grad_accum_steps=accumulation)
        trained = train_small(settings, tmp_path / f"run-{batch_size}")
        assert [row["virtual_epoch"] for row in trained.curves] == [1, 2, 3]
        seen.append(trained.examples_seen)
    assert seen == [360, 360]
    with pytest.raises(PipelineError, match=r"train\.torch\.checkpoints"):
        virtual_epoch_ends(2, updated(SMALL, checkpoints=5))


def test_a_finished_checkpoint_is_reused_and_one_from_other_settings_is_not(tmp_path: Path) -> None:
    first = train_small(SMALL, tmp_path)
    checkpoint = tmp_path / CHECKPOINT_FILE
    saved = torch.load(checkpoint, weights_only=True)
    assert saved["finished"] and saved["virtual_epoch"] == 3 and saved["examples_seen"] == 360

    again = train_small(SMALL, tmp_path)  # nothing left to train: the same best weights
    assert state_dict_bytes(again.state) == state_dict_bytes(first.state)
    assert again.curves == first.curves

    other = updated(SMALL, learning_rate=0.01)
    changed = train_small(other, tmp_path)
    assert changed.curves != first.curves
    assert torch.load(checkpoint, weights_only=True)["fingerprint"] != saved["fingerprint"]


def test_patience_stops_at_the_first_virtual_epochs_without_a_better_valid_loss(tmp_path: Path) -> None:
    settings = updated(SMALL, checkpoints=8, stop_point=4.0, learning_rate=0.05, patience=1)
    trained = train_small(settings, tmp_path)
    losses = [row["valid_loss"] for row in trained.curves]
    improved = [loss < min(losses[:i], default=np.inf) for i, loss in enumerate(losses)]
    # Training goes on while each virtual epoch improves and stops after the first that does not.
    assert all(improved[:-1])
    assert not improved[-1] or len(losses) == 8
    assert trained.best_virtual_epoch == int(np.argmin(losses)) + 1


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"grad_accum_steps": 0}, "params.yaml: train.torch.grad_accum_steps: must be at least 1, got 0"),
        ({"device": "tpu"}, "params.yaml: train.torch.device: expected one of auto, cpu, cuda; got 'tpu'"),
        ({"kernel_size": 2}, "params.yaml: train.torch.kernel_size: must be odd"),
        ({"stop_point": 0}, "params.yaml: train.torch.stop_point: must be positive, got 0"),
        ({"bucket_ratio": 1}, "params.yaml: train.torch.bucket_ratio: must be greater than 1"),
        ({"batch_sise": 8}, "params.yaml: train.torch.batch_sise: unknown key"),
    ],
)
def test_bad_torch_settings_name_the_key(tmp_path: Path, settings: dict, message: str) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"train": {"model": "torch", "torch": settings}}))
    with pytest.raises(PipelineError) as error:
        load_params(path)
    assert str(error.value).startswith(f"{tmp_path}/{message}")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_asking_for_cuda_without_it_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match=r"train\.torch\.device: cuda requested"):
        train_small(updated(SMALL, device="cuda"), tmp_path)
    assert not (tmp_path / CHECKPOINT_FILE).exists()
