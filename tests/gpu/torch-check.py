"""PyTorch on whichever libcuda.so.1 the loader finds: NVIDIA's (the
reference) or ours (over the direct socket, LD_LIBRARY_PATH first). Run by
scripts/gpu-suite.sh on the GPU machine.

Prints `CASE <name> PASS|FAIL <ms>ms <detail>`, `DIGEST <case> <hex>` (a 64-bit
BLAKE2b of the result tensors' bytes, so two runs compare bit for bit) and
`N passed, N failed`; exits non-zero on any failure. Deterministic: fixed
seeds, deterministic algorithms, CUBLAS_WORKSPACE_CONFIG set before torch
loads cuBLAS.
"""

import hashlib
import os
import struct
import sys
import threading
import time

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import torch  # noqa: E402

DIGESTS = []


def digest(case, *tensors):
    h = hashlib.blake2b(digest_size=8)
    for t in tensors:
        h.update(t.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    DIGESTS.append((case, int.from_bytes(h.digest(), "big")))


def float_hex(x):
    return "%08x" % struct.unpack("<I", struct.pack("<f", x))[0]


def case_device():
    if not torch.cuda.is_available():
        raise AssertionError("torch.cuda.is_available() is False")
    n = torch.cuda.device_count()
    if n != 1:
        raise AssertionError("torch.cuda.device_count() == %d, expected 1" % n)
    p = torch.cuda.get_device_properties(0)
    # Every property but the PCI location, which is the guest's own in a VM.
    fields = sorted(f for f in dir(p) if not f.startswith("_") and not f.startswith("pci_"))
    # (the UUID object's repr is its address: its text form is compared)
    values = [(f, getattr(p, f)) for f in fields]
    text = "; ".join(
        "%s=%s" % (f, str(v) if f == "uuid" else repr(v)) for f, v in values if not callable(v)
    )
    h = hashlib.blake2b(text.encode(), digest_size=8)
    DIGESTS.append(("device", int.from_bytes(h.digest(), "big")))
    print("PROPS %s" % text)
    return "%s, cc %d.%d, %d SMs, %d MiB" % (p.name, p.major, p.minor, p.multi_processor_count, p.total_memory >> 20)


def case_mlp_training():
    torch.manual_seed(1234)
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10)
    ).cuda()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    gen = torch.Generator(device="cpu").manual_seed(99)
    x = torch.randn(256, 64, generator=gen).cuda()
    y = torch.randn(256, 10, generator=gen).cuda()
    losses = []
    for step in range(20):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        print("LOSS %d %s" % (step, float_hex(losses[-1])))
    digest("mlp_training", torch.tensor(losses), *[p for p in model.parameters()])
    if not losses[-1] < losses[0]:
        raise AssertionError("loss did not fall: %r -> %r" % (losses[0], losses[-1]))
    return "20 SGD steps, loss %.6f -> %.6f" % (losses[0], losses[-1])


def case_pinned_copy():
    src = torch.arange(1 << 20, dtype=torch.int32).pin_memory()
    if not src.is_pinned():
        raise AssertionError("pin_memory() gave unpinned memory")
    dev = src.cuda(non_blocking=True)
    back = torch.empty_like(src).pin_memory()
    back.copy_(dev * 3, non_blocking=True)
    torch.cuda.synchronize()
    if not torch.equal(back, src * 3):
        raise AssertionError("pinned round trip differs")
    digest("pinned_copy", back)
    return "4 MiB pinned -> device -> pinned, non_blocking"


def case_sort():
    gen = torch.Generator(device="cpu").manual_seed(7)
    data = torch.randint(-(1 << 20), 1 << 20, (100000,), generator=gen, dtype=torch.int64)
    values, indices = torch.sort(data.cuda(), stable=True)
    want_values, want_indices = torch.sort(data, stable=True)
    if not torch.equal(values.cpu(), want_values) or not torch.equal(indices.cpu(), want_indices):
        raise AssertionError("GPU sort differs from the CPU's")
    digest("sort", values, indices)
    return "100000 int64 sorted, as on the CPU"


def case_threads_streams():
    results = [None, None]
    errors = []

    def work(i):
        try:
            stream = torch.cuda.Stream()
            gen = torch.Generator(device="cpu").manual_seed(100 + i)
            a = torch.randint(-4, 5, (512, 512), generator=gen).float()
            with torch.cuda.stream(stream):
                d = a.cuda(non_blocking=False)
                for _ in range(8):
                    d = (d @ d.T).clamp(-64, 64)
                results[i] = d.cpu()
            stream.synchronize()
        except Exception as e:  # reported below, with the thread's index
            errors.append("thread %d: %r" % (i, e))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise AssertionError("; ".join(errors))
    digest("threads_streams", *results)
    return "2 threads, 8 matmuls each on their own stream"


def case_cuda_graphs():
    """A whole training step captured with torch.cuda.graph, replayed on new data."""
    torch.manual_seed(4321)
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10)
    ).cuda()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    gen = torch.Generator(device="cpu").manual_seed(5)
    batches = [(torch.randn(256, 64, generator=gen), torch.randn(256, 10, generator=gen)) for _ in range(12)]
    static_x = batches[0][0].cuda()
    static_y = batches[0][1].cuda()
    # Warm-up on a side stream, as torch.cuda.graph's documentation asks.
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.mse_loss(model(static_x), static_y).backward()
            opt.step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        static_loss = torch.nn.functional.mse_loss(model(static_x), static_y)
        static_loss.backward()
        opt.step()
    before = [p.detach().clone() for p in model.parameters()]
    losses = []
    for x, y in batches:
        static_x.copy_(x)
        static_y.copy_(y)
        graph.replay()
        losses.append(static_loss.item())
        print("GRAPH_LOSS %d %s" % (len(losses) - 1, float_hex(losses[-1])))
    digest("cuda_graphs", torch.tensor(losses), *[p for p in model.parameters()])
    # Each replay must have run the captured step: new batches give new
    # losses, and the optimizer moved the parameters. (The bits are compared
    # with native through the digest; with a new batch each step the loss
    # need not fall.)
    if not all(torch.isfinite(torch.tensor(losses))) or len(set(losses)) != len(losses):
        raise AssertionError("replayed losses are not one per batch: %r" % losses)
    if all(torch.equal(a, p) for a, p in zip(before, model.parameters())):
        raise AssertionError("the replays did not update the parameters")
    return "forward, backward and SGD step captured, replayed %d times" % len(losses)


def case_expandable_segments():
    """The MLP of mlp_training in a child with expandable segments (VMM)."""
    import subprocess

    env = dict(os.environ, PYTORCH_CUDA_ALLOC_CONF="expandable_segments:True")
    child = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--mlp-only"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if child.returncode != 0:
        raise AssertionError("child exited %d: %s" % (child.returncode, child.stderr.strip()[-300:]))
    if "expandable_segments not supported" in child.stderr:
        raise AssertionError("PyTorch fell back: %s" % child.stderr.strip()[-300:])
    lines = [l for l in child.stdout.splitlines() if l.startswith(("LOSS ", "SEGMENTS "))]
    segments = [l for l in lines if l.startswith("SEGMENTS ")]
    if not segments or segments[-1] == "SEGMENTS 0":
        raise AssertionError("no expandable segment in use: %r" % segments)
    h = hashlib.blake2b("\n".join(l for l in lines if l.startswith("LOSS ")).encode(), digest_size=8)
    DIGESTS.append(("expandable_segments", int.from_bytes(h.digest(), "big")))
    return "20 SGD steps with expandable_segments:True, %s" % segments[-1].lower()


def mlp_only():
    """--mlp-only: the MLP training alone (the expandable-segments child)."""
    torch.use_deterministic_algorithms(True)
    torch.backends.cuda.matmul.allow_tf32 = False
    case_mlp_training()
    snapshot = torch.cuda.memory._snapshot()
    expandable = [s for s in snapshot.get("segments", []) if s.get("is_expandable")]
    print("SEGMENTS %d" % len(expandable))
    return 0


CASES = [
    ("device", case_device),
    ("mlp_training", case_mlp_training),
    ("pinned_copy", case_pinned_copy),
    ("sort", case_sort),
    ("threads_streams", case_threads_streams),
    ("cuda_graphs", case_cuda_graphs),
    ("expandable_segments", case_expandable_segments),
]


def main():
    torch.use_deterministic_algorithms(True)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    passed = failed = 0
    for name, fn in CASES:
        t0 = time.monotonic()
        try:
            detail, ok = fn(), True
        except Exception as e:  # every failure is a FAIL line, never a crash
            detail, ok = "%s: %s" % (type(e).__name__, e), False
        ms = int((time.monotonic() - t0) * 1000)
        print("CASE %s %s %dms %s" % (name, "PASS" if ok else "FAIL", ms, detail.replace("\n", " ")))
        for case, h in DIGESTS:
            print("DIGEST %s %016x" % (case, h))
        DIGESTS.clear()
        sys.stdout.flush()
        passed, failed = (passed + 1, failed) if ok else (passed, failed + 1)
        if name == "device" and not ok:
            for rest, _ in CASES[1:]:
                print("CASE %s FAIL 0ms not run: no CUDA device" % rest)
                failed += 1
            break
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(mlp_only() if sys.argv[1:] == ["--mlp-only"] else main())
