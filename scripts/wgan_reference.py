#!/usr/bin/env python3
"""The reference the mixtures are held against: a standard PyTorch WGAN-GP.

The toy setting of Gulrajani et al.'s `gan_toy.py` (ReLU MLPs with three hidden
layers, gradient penalty λ, `critic_iters` critic steps per generator step,
Adam with β = (0.5, 0.9), batch 256, the 2-D latent ~ N(0, I), points divided
by `data_scale`), on the same mixtures and with the same quality measure as
`models/gan/datasets.ts` and `models/gan/quality.ts` (2,500 samples; a sample
is high-quality within 3σ of its nearest mode; a mode is covered by at least
0.2/modes of the samples). It trains for a wall-clock budget on one thread and
prints one JSON line per evaluation (every `--eval-every` generator steps,
plus one at the end; `--threads` sets torch's threads):
{"dataset", "seconds", "iterations", "modes_covered", "modes", "high_quality"}.

Run with a Python that has torch (Debian: apt-get install python3-torch, then
/usr/bin/python3), e.g.

    /usr/bin/python3 scripts/wgan_reference.py --dataset gaussians25 --seconds 300
"""
import argparse
import json
import math
import sys
import time

import torch
from torch import nn


def mixture(name):
    """Centers (modes × 2), σ and the default data scale of `name`."""
    if name == "gaussians8":
        centers = [[2 * math.cos(2 * math.pi * k / 8), 2 * math.sin(2 * math.pi * k / 8)]
                   for k in range(8)]
        return torch.tensor(centers), 0.02, 1.414
    if name == "gaussians25":
        centers = [[2 * i - 4, 2 * j - 4] for i in range(5) for j in range(5)]
        return torch.tensor(centers, dtype=torch.float32), 0.05, 2.828
    raise SystemExit(f"unknown dataset '{name}': gaussians8 or gaussians25")


def sample(centers, sigma, n, gen):
    k = torch.randint(len(centers), (n,), generator=gen)
    return centers[k] + sigma * torch.randn(n, 2, generator=gen)


def quality(points, centers, sigma):
    """Modes covered and the high-quality share, as models/gan/quality.ts counts them."""
    d2 = ((points[:, None, :] - centers[None, :, :]) ** 2).sum(-1)
    best, at = d2.min(1)
    good = best <= (3 * sigma) ** 2
    counts = torch.bincount(at[good], minlength=len(centers))
    need = 0.2 / len(centers) * len(points)
    covered = int(((counts > 0) & (counts >= need)).sum())
    return covered, float(good.float().mean())


def mlp(inputs, width, outputs):
    return nn.Sequential(
        nn.Linear(inputs, width), nn.ReLU(),
        nn.Linear(width, width), nn.ReLU(),
        nn.Linear(width, width), nn.ReLU(),
        nn.Linear(width, outputs),
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="gaussians8")
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--critic-iters", type=int, default=5)
    ap.add_argument("--gp", type=float, default=0.1)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--data-scale", type=float, default=None)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    centers, sigma, default_scale = mixture(a.dataset)
    scale = a.data_scale or default_scale
    G, D = mlp(2, a.width, 2), mlp(2, a.width, 1)
    opt_g = torch.optim.Adam(G.parameters(), lr=a.lr, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(D.parameters(), lr=a.lr, betas=(0.5, 0.9))
    eval_z = torch.randn(2500, 2, generator=torch.Generator().manual_seed(12345))

    def report(it, start):
        with torch.no_grad():
            covered, hq = quality(G(eval_z) * scale, centers, sigma)
        print(json.dumps({
            "dataset": a.dataset, "seconds": round(time.perf_counter() - start, 1),
            "iterations": it, "modes_covered": covered, "modes": len(centers),
            "high_quality": round(hq, 4),
        }), flush=True)

    start = time.perf_counter()
    it = 0
    while time.perf_counter() - start < a.seconds:
        for _ in range(a.critic_iters):
            real = sample(centers, sigma, a.batch, gen) / scale
            with torch.no_grad():
                fake = G(torch.randn(a.batch, 2, generator=gen))
            eps = torch.rand(a.batch, 1, generator=gen)
            mid = (eps * real + (1 - eps) * fake).requires_grad_(True)
            grad, = torch.autograd.grad(D(mid).sum(), mid, create_graph=True)
            penalty = ((grad.norm(dim=1) - 1) ** 2).mean()
            loss_d = D(fake).mean() - D(real).mean() + a.gp * penalty
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
        loss_g = -D(G(torch.randn(a.batch, 2, generator=gen))).mean()
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        it += 1
        if it % a.eval_every == 0:
            report(it, start)
    report(it, start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
