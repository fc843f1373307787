"""PyTorch MLP training step time on whichever libcuda.so.1 the loader
finds: NVIDIA's (the reference) or ours (over the direct socket, or in the
guest). Run by scripts/gpu-suite.sh's bench parts on the GPU machine.

Two models, each trained with AdamW on fixed random data, fp32:
- `torch_mlp_step`: 1024 -> 4096 -> 4096 -> 1024, batch 512 (the GPU's
  arithmetic dominates);
- `torch_mlp_step_small`: 64 -> 128 -> 10, batch 256 (launches and round
  trips dominate: what a transport costs shows here).
A step is zero_grad, forward, MSE loss, backward, optimizer step and
torch.cuda.synchronize(); after warm-up steps, the median of --steps steps.

Prints `BENCH <name> <ms> ms <detail>`, `CASE bench-torch PASS|FAIL <ms>ms
<detail>` and `N passed, N failed`; exits non-zero on a failure.
Usage: torch-bench.py [--steps N] [--warmup N]
"""

import argparse
import statistics
import sys
import time

import torch

MODELS = [
    ("torch_mlp_step", [1024, 4096, 4096, 1024], 512),
    ("torch_mlp_step_small", [64, 128, 10], 256),
]


def mlp(widths):
    layers = []
    for i in range(len(widths) - 1):
        layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
        if i + 2 < len(widths):
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def step_times(widths, batch, steps, warmup):
    torch.manual_seed(1234)
    model = mlp(widths).cuda()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    gen = torch.Generator(device="cpu").manual_seed(99)
    x = torch.randn(batch, widths[0], generator=gen).cuda()
    y = torch.randn(batch, widths[-1], generator=gen).cuda()
    times = []
    losses = []
    for i in range(warmup + steps):
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        torch.cuda.synchronize()
        if i >= warmup:
            times.append((time.perf_counter() - t) * 1e3)
        losses.append(loss.item())
    if not losses[-1] < losses[0]:
        raise AssertionError("loss did not fall: %r -> %r" % (losses[0], losses[-1]))
    return times


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()
    t0 = time.perf_counter()
    try:
        if not torch.cuda.is_available():
            raise AssertionError("torch.cuda.is_available() is False")
        summary = []
        for name, widths, batch in MODELS:
            times = step_times(widths, batch, max(args.steps, 1), max(args.warmup, 1))
            med = statistics.median(times)
            print(
                "BENCH %s %.3f ms median of %d steps, MLP %s, batch %d, AdamW, fp32"
                % (name, med, len(times), "-".join(map(str, widths)), batch),
                flush=True,
            )
            summary.append("%s %.3f ms" % (name, med))
        ok, detail = True, ", ".join(summary)
    except Exception as e:  # reported as the case's failure
        ok, detail = False, repr(e)
    ms = int((time.perf_counter() - t0) * 1e3)
    print("CASE bench-torch %s %dms %s" % ("PASS" if ok else "FAIL", ms, detail))
    print("%d passed, %d failed" % (1 if ok else 0, 0 if ok else 1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
