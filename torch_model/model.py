"""The torch text classifier: embeddings, one convolution, masked max and mean pooling.

A one-layer CNN trains in seconds on a CPU, and its cost grows with the padded length,
which is what length bucketing saves. With ``kernel_size`` 3 its filters see word trigrams
(``not very good``); with 1 (the default, best on the default data, whose labels come from
single words) it is a bag of words with a learned per-word feature map. Padding does not
change a text's score: padded positions have zero embeddings (like the convolution's own
zero padding) and are masked out of the pooling.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from common.runtime import check_runtime
from torch_model.data import PAD_ID, Vocabulary, length_sorted_batches, pad_batch
from torch_model.params import TorchParams

SCORE_BATCH_SIZE = 512


@dataclass(frozen=True)
class Architecture:
    vocab_size: int
    embedding_dim: int
    channels: int
    kernel_size: int
    dropout: float

    @classmethod
    def from_settings(cls, settings: TorchParams, vocab_size: int) -> Architecture:
        return cls(
            vocab_size, settings.embedding_dim, settings.channels, settings.kernel_size, settings.dropout
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class TextCNN(nn.Module):
    def __init__(self, arch: Architecture) -> None:
        super().__init__()
        self.embedding = nn.Embedding(arch.vocab_size, arch.embedding_dim, padding_idx=PAD_ID)
        self.conv = nn.Conv1d(
            arch.embedding_dim, arch.channels, arch.kernel_size, padding=arch.kernel_size // 2
        )
        self.dropout = nn.Dropout(arch.dropout)
        self.output = nn.Linear(2 * arch.channels, 1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Logits (one per row) of ``[batch, width]`` token ids."""
        mask = (ids != PAD_ID).unsqueeze(1)
        features = torch.relu(self.conv(self.embedding(ids).transpose(1, 2))) * mask
        # After the ReLU every feature is >= 0, so zeroed padding never wins the max.
        max_pool = features.amax(dim=2)
        mean_pool = features.sum(dim=2) / mask.sum(dim=2)
        return self.output(self.dropout(torch.cat([max_pool, mean_pool], dim=1))).squeeze(1)


def configure_determinism(num_threads: int) -> None:
    """Same inputs, same bits: a fixed thread count and deterministic kernels only.

    The cuBLAS workspace setting must be in place before CUDA starts; deterministic mode
    makes an op without a deterministic kernel fail loudly instead of varying silently.
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.set_num_threads(num_threads)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    check_runtime()  # torch loads lazily, after run_stage's check: check its kernels now


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def logits_in_batches(
    model: TextCNN, encoded: list[np.ndarray], device: torch.device, batch_size: int = SCORE_BATCH_SIZE
) -> torch.Tensor:
    """Logits of every encoded text, in input order, batched by length to pad little."""
    lengths = np.fromiter((len(ids) for ids in encoded), dtype=np.int64, count=len(encoded))
    logits = torch.empty(len(encoded), dtype=torch.float32)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for batch in length_sorted_batches(lengths, batch_size):
            ids = pad_batch([encoded[i] for i in batch]).to(device)
            logits[torch.from_numpy(batch)] = model(ids).float().cpu()
    model.train(was_training)
    return logits


def positive_probabilities(model: TextCNN, vocabulary: Vocabulary, texts: list[str]) -> np.ndarray:
    """The scorer ``evaluate`` calls: probability of the positive class per text, on the CPU."""
    logits = logits_in_batches(model, vocabulary.encode_all(texts), torch.device("cpu"))
    return torch.sigmoid(logits).double().numpy()
