"""Training speed: seconds per epoch next to the matmul-FLOP floor measured in the same run.

    .venv/bin/python bench/training_speed.py [--offers 20000] [--in-dim 1669] [--write]

Synthetic features shaped like the real ones (in-dim 1280 image + 384 text + 5 numeric = 1669,
products of 2-4 offers), the real training loop (`ml.training.train_projection`, linear head to
192, batch 16384, supervised contrastive loss, validation R@k every epoch).

FLOP floor: the matrix products one epoch cannot avoid — projection forward (2·n·in·dim) and
its weight gradient (another 2·n·in·dim), the batch similarity matrix (2·b²·dim) and its two
gradients (2·2·b²·dim) — divided by the matmul rate this machine reaches right now on the same
shapes (timed with torch.mm into a preallocated output, once before and once after training;
medians, as the machine may be shared). The ratio epoch time / floor says how much time goes
elsewhere (exp and row sums over b², the batch gather, optimiser, validation, Python).
"""

from __future__ import annotations

import argparse
import os
import time


def _rate(a, b, repeat: int = 3) -> float:
    """FLOP/s of ``a @ b`` into a preallocated output (no allocation or page faults timed)."""
    import torch

    out = torch.mm(a, b)
    started = time.perf_counter()
    for _ in range(repeat):
        torch.mm(a, b, out=out)
    seconds = (time.perf_counter() - started) / repeat
    return 2 * a.shape[0] * a.shape[1] * b.shape[1] / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--offers", type=int, default=20000)
    parser.add_argument("--in-dim", type=int, default=1669)
    parser.add_argument("--dim", type=int, default=192)
    parser.add_argument("--batch-size", type=int, default=16384)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()

    import numpy as np
    import torch

    from matching.ml.training import (
        ProductBatchSampler,
        TrainConfig,
        split_by_product,
        train_projection,
    )

    rng = np.random.default_rng(0)
    sizes = rng.integers(2, 5, size=args.offers)
    product_ids = np.repeat(np.arange(args.offers), sizes)[: args.offers].tolist()
    centres = rng.normal(size=(max(product_ids) + 1, args.in_dim)).astype(np.float32)
    x = centres[product_ids] + 0.5 * rng.normal(size=(args.offers, args.in_dim)).astype(np.float32)

    config = TrainConfig(
        dim=args.dim, epochs=args.epochs, batch_size=args.batch_size, patience=args.epochs
    )
    # the batches of one epoch: same validation split and sampler as the training loop
    train_idx, _ = split_by_product(product_ids, val_share=config.val_share, seed=config.seed)
    train_ids = [product_ids[i] for i in train_idx]
    batches = [len(b) for b in ProductBatchSampler(train_ids, batch_size=args.batch_size, seed=0)]
    n_train = sum(batches)
    proj_flops = 2 * 2 * n_train * args.in_dim * args.dim
    sim_flops = 3 * sum(2 * b * b * args.dim for b in batches)
    b = max(batches)
    a_proj = torch.randn(b, args.in_dim)
    w = torch.randn(args.in_dim, args.dim)
    z = torch.randn(b, args.dim)
    z_t = z.T.contiguous()
    # the machine may be shared: time the matmul rates before and after training, take medians
    load = [os.getloadavg()[0]]
    proj_rates, sim_rates = [_rate(a_proj, w)], [_rate(z, z_t)]
    result = train_projection(features=x, product_ids=product_ids, config=config)
    load.append(os.getloadavg()[0])
    proj_rates.append(_rate(a_proj, w))
    sim_rates.append(_rate(z, z_t))
    proj_rate, sim_rate = float(np.median(proj_rates)), float(np.median(sim_rates))
    floor = proj_flops / proj_rate + sim_flops / sim_rate
    per_epoch = [h["seconds"] for h in result.history]
    epoch = float(np.median(per_epoch))
    lines = [
        "## Training speed (bench/training_speed.py)",
        "",
        "```",
        f".venv/bin/python bench/training_speed.py --offers {args.offers} --in-dim {args.in_dim}"
        f" --batch-size {args.batch_size} --epochs {args.epochs} --write",
        "```",
        "",
        f"{os.cpu_count()} CPU cores, no GPU, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads). {args.offers} synthetic offers ({n_train} in "
        f"training batches after the validation split), in-dim {args.in_dim} -> {args.dim}, "
        f"{len(batches)} batch(es) of at most {args.batch_size}. Load average (1 min) before / "
        f"after training: {load[0]:.1f} / {load[1]:.1f}; matmul rates are the median of one "
        "timing before and one after training (output preallocated).",
        "",
        "| | value |",
        "| --- | ---: |",
        f"| matmul rate, projection shape ({b}x{args.in_dim} @ {args.in_dim}x{args.dim}) | "
        f"{proj_rate / 1e9:.1f} GFLOP/s |",
        f"| matmul rate, similarity shape ({b}x{args.dim} @ {args.dim}x{b}) | "
        f"{sim_rate / 1e9:.1f} GFLOP/s |",
        f"| matmul FLOPs per epoch (projection + similarity) | "
        f"{proj_flops / 1e9:.1f} + {sim_flops / 1e9:.1f} GFLOP |",
        f"| **FLOP floor per epoch** | **{floor:.2f} s** |",
        f"| **measured seconds per epoch** (median of {len(per_epoch)}) | **{epoch:.2f} s** |",
        f"| ratio measured / floor | {epoch / floor:.1f}x |",
        "",
        "The loss (`ml.losses.supcon_loss`) walks the b x b similarity matrix in blocks of "
        "rows, exponentiates each block in place and takes its two gradient products at once; "
        "the positives' term is O(b·d). The remainder over the floor is one exp and one row-sum "
        "pass over b² floats, the batch gather, validation and the optimiser step. "
        "The paper's 1.5M offers x 50 epochs on an A100 took ~10 minutes.",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        from _sections import write_section  # bench/ is the script's folder: sys.path[0]

        write_section("training-speed", text)


if __name__ == "__main__":
    main()
