#!/usr/bin/env python3
"""The same DCGAN iteration in PyTorch, for a side-by-side speed comparison with
`dcgan-wgpu bench` on the same machine (BENCHMARKS.md).

Same networks (--arch full), batch, optimizer and step structure as dcgan-wgpu: G makes fakes
in training mode, D takes an Adam step on a real batch and on the fakes, G takes an Adam step
through the frozen D. TensorFlow's asymmetric 'same' padding is reproduced with explicit pads
so every layer has the same shape and multiply-add count. Random tensors stand in for MNIST
(the data path is not what is timed).

Usage: python3 bench/pytorch_dcgan.py [--batch 128] [--iterations 10] [--device cpu|cuda]
"""
import argparse
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class SameConv(nn.Module):
    """Conv2D 3x3 with TensorFlow 'same' padding (padding after for even sizes at stride 2)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride)
        self.stride = stride

    def forward(self, x):
        h = x.shape[-1]
        out = -(-h // self.stride)
        total = max((out - 1) * self.stride + 3 - h, 0)
        before = total // 2
        return self.conv(F.pad(x, (before, total - before, before, total - before)))


class SameConvT(nn.Module):
    """Conv2DTranspose 3x3 'same': output = input * stride (Keras' geometry)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        # stride 2: out index 2i + k, last row/column dropped; stride 1: padding 1.
        self.convt = nn.ConvTranspose2d(cin, cout, 3, stride, padding=0 if stride == 2 else 1)
        self.stride = stride

    def forward(self, x):
        y = self.convt(x)
        if self.stride == 2:
            y = y[..., : 2 * x.shape[-2], : 2 * x.shape[-1]]
        return y


def generator(z_dim=100):
    return nn.Sequential(
        nn.Linear(z_dim, 7 * 7 * 256), nn.Unflatten(1, (256, 7, 7)),
        SameConvT(256, 128, 2), nn.BatchNorm2d(128, eps=1e-3, momentum=0.01), nn.LeakyReLU(0.01),
        SameConvT(128, 64, 1), nn.BatchNorm2d(64, eps=1e-3, momentum=0.01), nn.LeakyReLU(0.01),
        SameConvT(64, 1, 2), nn.Tanh(),
    )


def discriminator():
    return nn.Sequential(
        SameConv(1, 32, 2), nn.LeakyReLU(0.01),
        SameConv(32, 64, 2), nn.BatchNorm2d(64, eps=1e-3, momentum=0.01), nn.LeakyReLU(0.01),
        SameConv(64, 128, 2), nn.BatchNorm2d(128, eps=1e-3, momentum=0.01), nn.LeakyReLU(0.01),
        nn.Flatten(), nn.Linear(4 * 4 * 128, 1),
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    dev = torch.device(args.device)
    torch.manual_seed(0)
    g, d = generator().to(dev), discriminator().to(dev)
    opt_g = torch.optim.Adam(g.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    opt_d = torch.optim.Adam(d.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    bce = nn.BCEWithLogitsLoss()
    b = args.batch
    real = torch.rand(b, 1, 28, 28, device=dev) * 2 - 1
    ones, zeros = torch.ones(b, 1, device=dev), torch.zeros(b, 1, device=dev)

    def iteration():
        fakes = g(torch.randn(b, 100, device=dev)).detach()
        for x, y in ((real, ones), (fakes, zeros)):
            opt_d.zero_grad(set_to_none=True)
            bce(d(x), y).backward()
            opt_d.step()
        for p in d.parameters():
            p.requires_grad_(False)
        opt_g.zero_grad(set_to_none=True)
        bce(d(g(torch.randn(b, 100, device=dev))), ones).backward()
        opt_g.step()
        for p in d.parameters():
            p.requires_grad_(True)
        if dev.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(args.warmup):
        iteration()
    times = []
    for _ in range(args.iterations):
        t = time.perf_counter()
        iteration()
        times.append(time.perf_counter() - t)
    gflop = 35.03 * b / 128  # the analytic count of dcgan-wgpu bench for --arch full
    med = statistics.median(times)
    print(f"PyTorch {torch.__version__} on {args.device} ({torch.get_num_threads()} threads), batch {b}")
    print(f"per iteration: median {med * 1e3:.1f} ms, min {min(times) * 1e3:.1f} ms")
    print(f"throughput: {gflop / med:.1f} GFLOP/s (median), 20000 iterations in {20000 * med:.0f} s")


if __name__ == "__main__":
    main()
