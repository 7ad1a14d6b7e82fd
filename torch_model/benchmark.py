"""Length bucketing against padding every batch to the dataset's longest text.

One pass over the same long-tailed data with the train stage's model, (a) in length-bucketed
batches padded to their own longest example, and (b) in random batches all padded to the
dataset's maximum length. Prints the time ratio, the peak memory and the test accuracy of
each. Each mode runs in its own process, so that one's peak memory does not hide the other's.

    python torch_model/benchmark.py                 # CPU, 1 thread, the defaults below
    python torch_model/benchmark.py --device cuda   # on a GPU (peak = torch's CUDA allocator)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from torch_model.data import Vocabulary, length_buckets, pad_batch, pass_generator, plan_pass
from torch_model.loop import accumulated_step
from torch_model.model import Architecture, TextCNN, configure_determinism, logits_in_batches
from torch_model.params import TorchParams


def long_tailed_data(rows: int, seed: int) -> tuple[list[str], np.ndarray]:
    """Texts whose token counts are log-normal (median 12, a tail to 400 tokens).

    A quarter of each text's words carry sentiment (100 positive, 100 negative words among
    1000); the label is the sign of their sum, with 5% of labels flipped.
    """
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(1000)]
    sentiment = np.zeros(len(words))
    sentiment[:100], sentiment[100:200] = 1, -1
    lengths = np.clip(rng.lognormal(np.log(12), 0.9, size=rows).astype(int), 1, 400)
    texts, labels = [], np.empty(rows, dtype=np.int8)
    for row, length in enumerate(lengths):
        ids = rng.integers(200, len(words), size=length)
        ids[: max(1, length // 4) | 1] = rng.integers(0, 200, size=max(1, length // 4) | 1)  # odd: no ties
        rng.shuffle(ids)
        texts.append(" ".join(words[i] for i in ids))
        labels[row] = int(sentiment[ids].sum() > 0) ^ int(rng.random() < 0.05)
    return texts, labels


def current_rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def run_mode(mode: str, args: argparse.Namespace) -> dict[str, float]:
    """One pass of training in ``mode`` (bucketed or padded); time, peak memory, test accuracy."""
    configure_determinism(args.threads)
    device = torch.device(args.device)
    settings = TorchParams()
    train_texts, train_labels = long_tailed_data(args.rows, seed=1)
    test_texts, test_labels = long_tailed_data(args.rows // 4, seed=2)
    vocabulary = Vocabulary.build(train_texts, settings.max_vocab, settings.min_count, max_tokens=400)
    train_ids, test_ids = vocabulary.encode_all(train_texts), vocabulary.encode_all(test_texts)
    lengths = np.array([len(ids) for ids in train_ids])
    generator = pass_generator(args.seed, 0)
    if mode == "bucketed":
        batches = plan_pass(length_buckets(lengths, settings.bucket_ratio), args.batch_size, generator)
        pad_to = None
    else:
        order = torch.randperm(len(train_ids), generator=generator).numpy()
        batches = [order[i : i + args.batch_size] for i in range(0, len(order), args.batch_size)]
        pad_to = int(lengths.max())
    labels = torch.from_numpy(train_labels.astype(np.float32))

    torch.manual_seed(args.seed)
    model = TextCNN(Architecture.from_settings(settings, len(vocabulary))).to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    rss_before = current_rss_mib()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for batch in batches:
        ids = pad_batch([train_ids[i] for i in batch], pad_to=pad_to).to(device)
        accumulated_step(model, optimizer, [(ids, labels[torch.from_numpy(batch)].to(device))])
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before scoring's own peak
    peak_cuda = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None
    logits = logits_in_batches(model, test_ids, device)
    accuracy = float(((logits >= 0).numpy() == test_labels.astype(bool)).mean())
    padded_tokens = sum(len(b) * (pad_to or lengths[b].max()) for b in batches)
    result = {
        "seconds": seconds,
        "examples_per_second": len(train_ids) / seconds,
        "test_accuracy": accuracy,
        "padding_share": 1 - lengths.sum() / padded_tokens,
        "peak_rss_mib": peak_rss,
        "peak_rss_increase_mib": peak_rss - rss_before,
    }
    if peak_cuda is not None:
        result["peak_cuda_mib"] = peak_cuda
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=24_000, help="train rows (test: a quarter as many)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--mode", choices=["bucketed", "padded"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(run_mode(args.mode, args)))
        return

    results = {}
    for mode in ("bucketed", "padded"):
        command = [sys.executable, __file__, *sys.argv[1:], "--mode", mode]
        results[mode] = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    bucketed, padded = results["bucketed"], results["padded"]
    print(
        f"one pass over {args.rows} long-tailed texts, batch {args.batch_size}, {args.device}, {args.threads} thread(s)"
    )
    print(
        f"{'':10} {'seconds':>8} {'ex/s':>8} {'padding':>8} {'peak RSS MiB':>13} {'(+ in pass)':>11} {'test acc':>9}"
    )
    for mode, r in results.items():
        print(
            f"{mode:10} {r['seconds']:8.2f} {r['examples_per_second']:8.0f} {r['padding_share']:8.1%} "
            f"{r['peak_rss_mib']:13.0f} {r['peak_rss_increase_mib']:11.0f} {r['test_accuracy']:9.4f}"
            + (f"  peak CUDA {r['peak_cuda_mib']:.0f} MiB" if "peak_cuda_mib" in r else "")
        )
    print(f"time ratio padded / bucketed: {padded['seconds'] / bucketed['seconds']:.2f}x")
    print(f"accuracy difference: {100 * (bucketed['test_accuracy'] - padded['test_accuracy']):+.2f} points")


if __name__ == "__main__":
    main()
