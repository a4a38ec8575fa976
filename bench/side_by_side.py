#!/usr/bin/env python3
"""dcgan-wgpu and PyTorch on the same machine, interleaved, in one command: the ratio the speed
work is judged by (BENCHMARKS.md), beside the adapter's own ceilings that `bench` measures.

For each batch size and round: `dcgan-wgpu bench --json` (tuned unless --no-tune is passed
through), then `bench/pytorch_dcgan.py` on the CPU with the same batch; one table at the end
(and --json for the raw figures). Interleaving matters on a shared host whose speed drifts by
tens of percent from minute to minute.

Usage: python3 bench/side_by_side.py [--batch 32 128] [--rounds 2] [--iterations 3]
           [--torch-iterations 10] [--bin target/release/dcgan-wgpu] [--json] [-- BENCH FLAGS]
"""
import argparse
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    return p.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, nargs="+", default=[32, 128])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--iterations", type=int, default=3, help="dcgan-wgpu bench iterations")
    ap.add_argument("--torch-iterations", type=int, default=10)
    ap.add_argument("--bin", default=os.path.join(HERE, "..", "target", "release", "dcgan-wgpu"))
    ap.add_argument("--json", action="store_true", help="print the raw figures as JSON")
    ap.add_argument("bench_flags", nargs="*", help="passed to `dcgan-wgpu bench` (after --)")
    args = ap.parse_args()

    rows = []
    for batch in args.batch:
        for r in range(args.rounds):
            ours = json.loads(run([args.bin, "bench", "--json", "--batch-size", str(batch),
                                   "--iterations", str(args.iterations), "--warmup", "1",
                                   *args.bench_flags]))
            torch = run([sys.executable, os.path.join(HERE, "pytorch_dcgan.py"), "--batch",
                         str(batch), "--iterations", str(args.torch_iterations)])
            med = float(re.search(r"median ([\d.]+) ms", torch).group(1))
            threads = re.search(r"\((\d+) threads\)", torch).group(1)
            rows.append({
                "batch": batch,
                "round": r + 1,
                "adapter": ours["adapter"],
                "ms_per_iteration_pipelined": ours["ms_per_iteration_pipelined"],
                "gflops": ours["gflops"],
                "gemm_gflops": ours["gemm_gflops"],
                "fma_ceiling_gflops": ours["ceiling"]["fma_gflops"],
                "copy_ceiling_gb_per_s": ours["ceiling"]["copy_gb_per_s"],
                "pytorch_ms_per_iteration_median": med,
                "pytorch_threads": int(threads),
                "pytorch_gflops": ours["gflop_per_iteration"] / med * 1e3,
                "ratio": ours["ms_per_iteration_pipelined"] / med,
            })
            print(f"batch {batch} round {r + 1}: dcgan-wgpu {rows[-1]['ms_per_iteration_pipelined']:.0f} "
                  f"ms/it, PyTorch {med:.0f} ms/it", file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"adapter: {rows[0]['adapter']}; PyTorch on the CPU with {rows[0]['pytorch_threads']} threads")
    print("| batch | round | dcgan-wgpu ms/it (pipelined) | PyTorch ms/it (median) | ratio "
          "| dcgan-wgpu GFLOP/s (GEMMs alone) | PyTorch GFLOP/s | adapter FMA ceiling GFLOP/s "
          "| adapter copy GB/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for x in rows:
        print(f"| {x['batch']} | {x['round']} | {x['ms_per_iteration_pipelined']:,.0f} "
              f"| {x['pytorch_ms_per_iteration_median']:,.0f} | {x['ratio']:.1f}x "
              f"| {x['gflops']:.1f} ({x['gemm_gflops']:.1f}) | {x['pytorch_gflops']:.1f} "
              f"| {x['fma_ceiling_gflops']:.1f} | {x['copy_ceiling_gb_per_s']:.1f} |")


if __name__ == "__main__":
    main()
