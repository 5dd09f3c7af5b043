"""PyTorch's figures for the workloads of BENCHMARKS.md (W1 to W9, M1, and
F1S, one step of F1's network).

This script is optional: it is not part of the build, of the tests or of
CI, and nothing in tapegrad depends on it. It exists so that the table of
tests/bench/run.sh can show PyTorch's figures measured on the same machine,
in the same run, as tapegrad's (run.sh -p). Each workload does the same
work as its C program in tests/bench (bench_w*.c): the same sizes, dtypes
and steps, the same warm-up and timed iteration counts, and one timed step
is the whole step as a user writes it in PyTorch (forward, backward,
optimizer update, zeroing the gradients).

It prints one JSON line per workload and variant, with the keys of the C
programs (workload, threads, median_ms, min_ms, max_ms, p90_ms, iters,
variant, figure, unit, ...) plus "engine": "pytorch" and "torch_version".
min_ms, max_ms and p90_ms are the fastest, the slowest and the 90th
percentile of the timed iterations, as in bench.c.

Run it with an interpreter that can import torch (Debian: apt-get install
python3-torch, which installs for /usr/bin/python3):

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tests/bench/torch_bench.py --threads 1
    /usr/bin/python3 tests/bench/torch_bench.py --threads 2 -w W2 W8

--threads N sets torch.set_num_threads(N) and torch.set_num_interop_threads(1);
the BLAS library's threads come from the environment (OPENBLAS_NUM_THREADS),
which the caller sets. --iters and --warmup replace every workload's counts.

OpenBLAS 0.3.21 falls back to its generic "Prescott" kernels on processors
newer than it knows; tapegrad repairs that in its own process, torch does
not. For like-with-like figures set OPENBLAS_CORETYPE to the core named in
tapegrad's "blas_core" field (e.g. SkylakeX); run.sh -p does this. Each line
names the kernels OpenBLAS uses in this process in "blas_core".
"""

import argparse
import ctypes
import json
import math
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

# (timed iterations, warm-up iterations) of each C program.
DEFAULT_COUNTS = {
    "W1": (200, 20), "W2": (200, 20), "W3": (200, 20), "W4": (30, 3),
    "W5": (1000, 50), "W6": (200, 10), "W7": (5000, 200), "W8": (30, 3),
    "W9": (200, 10), "F1S": (200, 30),
}


def now_ms():
    return time.perf_counter() * 1e3  # a monotonic clock


def median(values):
    v = sorted(values)
    n = len(v)
    if n == 0:
        return 0.0
    return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])


def run_timed(step, iters, warmup):
    """Runs step warmup times untimed, then iters times timed one by one."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(iters):
        t0 = now_ms()
        step()
        times.append(now_ms() - t0)
    return times


class Reporter:
    """Prints the JSON lines, with the fields every line carries."""

    def __init__(self, threads):
        self.threads = threads
        self.blas_core = openblas_core()
        if self.blas_core == "Prescott" and "OPENBLAS_CORETYPE" not in os.environ:
            print("torch_bench.py: OpenBLAS uses its generic Prescott kernels; "
                  "set OPENBLAS_CORETYPE (e.g. SkylakeX, Haswell) to compare "
                  "with tapegrad", file=sys.stderr)

    def line(self, workload, times, figure, unit, **extra):
        t = sorted(times)
        rec = {
            "workload": workload, "threads": self.threads,
            "median_ms": round(median(t), 4),
            "min_ms": round(t[0], 4), "max_ms": round(t[-1], 4),
            "p90_ms": round(t[(9 * len(t) + 9) // 10 - 1], 4),  # as bench.c
            "iters": len(t),
        }
        rec.update(extra)
        rec.update(figure=round(figure, 4), unit=unit, engine="pytorch",
                   torch_version=torch.__version__)
        if self.blas_core:
            rec["blas_core"] = self.blas_core
        print(json.dumps(rec), flush=True)


def openblas_core():
    """OpenBLAS's name for its kernels in this process, if torch loaded it."""
    try:
        with open("/proc/self/maps") as f:
            libs = {l.split()[-1] for l in f if "openblas" in l and "/" in l}
        for path in sorted(libs):
            fn = getattr(ctypes.CDLL(path), "openblas_get_corename", None)
            if fn is not None:
                fn.restype = ctypes.c_char_p
                return fn().decode()
    except OSError:
        pass
    return None


def reset_peak_rss():
    """Lowers the process's peak RSS to its current RSS (Linux: clear_refs),
    so that the next peak_rss_mib is one workload's peak, not an earlier
    one's. Returns False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mib():
    """VmHWM of /proc/self/status as in bench.c, else getrusage's maxrss."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def w1_scalar(rep, iters, warmup):
    """A chain of 10,000 ops alternating add, mul, tanh, then backward."""
    n_ops = 10000
    for variant, shape in (("0-d", ()), ("[1]", (1,))):
        x = torch.full(shape, 0.5, requires_grad=True)
        a = torch.full(shape, 0.1, requires_grad=True)
        b = torch.full(shape, 0.9, requires_grad=True)
        fwd, bwd = [], []

        def step():
            t0 = now_ms()
            y = x
            for i in range(n_ops):
                k = i % 3
                if k == 0:
                    y = y + a
                elif k == 1:
                    y = y * b
                else:
                    y = torch.tanh(y)
            t1 = now_ms()
            y.backward()
            del y  # free the graph inside the timed step
            for p in (x, a, b):
                p.grad = None
            fwd.append(t1 - t0)
            bwd.append(now_ms() - t1)

        times = run_timed(step, iters, warmup)
        scale = 1e6 / n_ops  # ms per chain -> ns per op
        rep.line("W1", times, median(times) * scale, "ns/op", variant=variant,
                 ops=n_ops, fwd_ns_per_op=round(median(fwd[warmup:]) * scale, 1),
                 bwd_ns_per_op=round(median(bwd[warmup:]) * scale, 1))


def sgd_step(forward, params, labels):
    """One training step as a user writes it: cross-entropy (mean) of
    forward()'s logits, backward, SGD (lr 0.01) update, zero_grad."""
    opt = torch.optim.SGD(params, lr=0.01)

    def step():
        loss = F.cross_entropy(forward(), labels)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    return step


def w2_mlp(rep, iters, warmup):
    """SGD step of an MLP 784-512-512-10, ReLU, batch 128, cross-entropy."""
    reset = reset_peak_rss()
    torch.manual_seed(2)
    x = torch.randn(128, 784)
    labels = torch.randint(0, 10, (128,))
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 512), torch.nn.ReLU(),
        torch.nn.Linear(512, 512), torch.nn.ReLU(),
        torch.nn.Linear(512, 10))
    step = sgd_step(lambda: model(x), model.parameters(), labels)
    times = run_timed(step, iters, warmup)
    rep.line("W2", times, median(times), "ms/step", batch=128,
             peak_rss_mib=round(peak_rss_mib(), 1), peak_rss_reset=reset)


def w3_lenet(rep, iters, warmup):
    """SGD step of LeNet-5 on a batch of 64 images 1x28x28."""
    reset = reset_peak_rss()
    torch.manual_seed(3)
    x = torch.randn(64, 1, 28, 28)
    labels = torch.randint(0, 10, (64,))
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10))
    step = sgd_step(lambda: model(x), model.parameters(), labels)
    times = run_timed(step, iters, warmup)
    rep.line("W3", times, median(times), "ms/step", batch=64,
             peak_rss_mib=round(peak_rss_mib(), 1), peak_rss_reset=reset)


def f1_step(rep, iters, warmup):
    """F1S: one Adam (lr 1e-3) step of F1's CNN on 64 random images
    (tapegrad's bench_f1_step times ten steps of tg_model_fit at a time and
    divides; here each step is timed alone)."""
    torch.manual_seed(5)
    x = torch.rand(64, 1, 28, 28)
    labels = torch.randint(0, 10, (64,))
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        loss = F.cross_entropy(model(x), labels)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    times = run_timed(step, iters, warmup)
    rep.line("F1S", times, median(times), "ms/step", batch=64)


def w4_lstm(rep, iters, warmup):
    """SGD step of nn.LSTM (seq 50, batch 32, 64 -> 128) with a dense head
    to 64 classes at every step, cross-entropy over all 1600 steps."""
    seq, batch, n_in, hidden, classes = 50, 32, 64, 128, 64
    torch.manual_seed(4)
    x = torch.randn(batch, seq, n_in)
    labels = torch.randint(0, classes, (batch * seq,))
    lstm = torch.nn.LSTM(n_in, hidden, batch_first=True)
    head = torch.nn.Linear(hidden, classes)

    def forward():
        hs, _ = lstm(x)  # [32, 50, 128]
        return head(hs).reshape(batch * seq, classes)

    step = sgd_step(forward, [*lstm.parameters(), *head.parameters()], labels)
    times = run_timed(step, iters, warmup)
    rep.line("W4", times, median(times), "ms/step", seq=seq, batch=batch,
             module="nn.LSTM")


def w5_rnn(rep, iters, warmup):
    """Forward and backward of an Elman RNN (tanh), input 8, hidden 16,
    sequence 100, batch 1: a loop of primitives, and nn.RNN."""
    seq, n_in, hidden = 100, 8, 16
    torch.manual_seed(5)
    x = torch.randn(seq, n_in)
    k = 1 / math.sqrt(hidden)
    w_ih, w_hh, b_ih, b_hh = [
        torch.empty(shape).uniform_(-k, k).requires_grad_()
        for shape in ((n_in, hidden), (hidden, hidden), (hidden,), (hidden,))]
    rnn = torch.nn.RNN(n_in, hidden, batch_first=True)
    x_batch = x.reshape(1, seq, n_in)

    def step_loop():
        h = torch.zeros(1, hidden)
        for t in range(seq):
            a = torch.matmul(x[t:t + 1], w_ih) + b_ih
            r = torch.matmul(h, w_hh) + b_hh
            h = torch.tanh(a + r)
        h.sum().backward()
        for p in (w_ih, w_hh, b_ih, b_hh):
            p.grad = None

    def step_layer():
        _, h = rnn(x_batch)
        h.sum().backward()
        rnn.zero_grad(set_to_none=True)

    for variant, step, extra in (("loop", step_loop, {}),
                                 ("rnn_layer", step_layer,
                                  {"module": "nn.RNN"})):
        times = run_timed(step, iters, warmup)
        rep.line("W5", times, median(times), "ms/fwd+bwd", variant=variant,
                 seq=seq, **extra)


def mlp_params(seed):
    """The 10-20-1 MLP of W6 and W7 in float64: x [8, 10] and W1, b1, W2, b2."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(8, 10, generator=g, dtype=torch.float64)
    shapes_stds = (((10, 20), 1 / math.sqrt(10)), ((20,), 0.1),
                   ((20, 1), 1 / math.sqrt(20)), ((1,), 0.1))
    params = tuple(
        (torch.randn(shape, generator=g, dtype=torch.float64) * std)
        .requires_grad_() for shape, std in shapes_stds)
    return x, params, g


def w6_gradcheck(rep, iters, warmup):
    """torch.autograd.gradcheck (defaults: full Jacobian) of the MLP with
    all four parameters as inputs; the batch is data held by the function."""
    x, params, _ = mlp_params(6)

    def mlp(w1, b1, w2, b2):
        return torch.tanh(x @ w1 + b1) @ w2 + b2

    def step():
        if not torch.autograd.gradcheck(mlp, params):
            raise RuntimeError("W6: gradcheck failed")

    times = run_timed(step, iters, warmup)
    rep.line("W6", times, median(times), "ms/call",
             inputs=sum(p.numel() for p in params), outputs=8)


def w7_hvp(rep, iters, warmup):
    """Hessian-vector product of the MLP's mean squared error: by hand with
    two torch.autograd.grad sweeps, and torch.autograd.functional.hvp."""
    x, params, g = mlp_params(7)
    y = torch.randn(8, 1, generator=g, dtype=torch.float64)
    v = tuple(torch.randn(p.shape, generator=g, dtype=torch.float64)
              for p in params)
    n_values = sum(p.numel() for p in params)
    out = torch.empty(n_values, dtype=torch.float64)

    def loss_fn(w1, b1, w2, b2):
        d = torch.tanh(x @ w1 + b1) @ w2 + b2 - y
        return (d * d).mean()

    def step_grad_twice():
        grads = torch.autograd.grad(loss_fn(*params), params, create_graph=True)
        dot = sum((gi * vi).sum() for gi, vi in zip(grads, v))
        hv = torch.autograd.grad(dot, params)
        torch.cat([h.reshape(-1) for h in hv], out=out)

    def step_functional():
        _, hv = torch.autograd.functional.hvp(loss_fn, params, v)
        torch.cat([h.reshape(-1) for h in hv], out=out)

    # The two variants must give the same product.
    step_functional()
    ref = out.clone()
    step_grad_twice()
    scale = max(1.0, ref.abs().max().item())
    if not torch.allclose(out, ref, rtol=0, atol=1e-12 * scale):
        raise RuntimeError("W7: the two Hessian-vector products differ")

    # "func_hvp" is the library's own transform, like tapegrad's "tg_hvp";
    # run.sh pairs the two through "tapegrad_variant".
    for variant, step, extra in (
            ("grad_twice", step_grad_twice, {}),
            ("func_hvp", step_functional, {"tapegrad_variant": "tg_hvp"})):
        times = run_timed(step, iters, warmup)
        rep.line("W7", times, median(times), "ms/product", variant=variant,
                 params=n_values, **extra)


def w8_matmul(rep, iters, warmup):
    """torch.mm of two 1024x1024 float32 matrices, a new result each time."""
    n = 1024
    torch.manual_seed(8)
    a, b = torch.randn(n, n), torch.randn(n, n)
    times = run_timed(lambda: torch.mm(a, b), iters, warmup)
    gflops = 2.0 * n ** 3 / (median(times) * 1e-3) / 1e9
    rep.line("W8", times, gflops, "GFLOP/s", n=n)


def w9_vmath(rep, iters, warmup):
    """torch.exp and torch.tanh over 1,000,000 float32 elements from
    N(0, 2^2), forward only (no gradient), a new result each time."""
    n = 1000000
    torch.manual_seed(9)
    x = torch.randn(n) * 2
    for variant, op in (("exp", torch.exp), ("tanh", torch.tanh)):
        times = run_timed(lambda: op(x), iters, warmup)
        rep.line("W9", times, median(times) * 1e6 / n, "ns/elem",
                 variant=variant, n=n)


WORKLOADS = {
    "W1": w1_scalar, "W2": w2_mlp, "W3": w3_lenet, "W4": w4_lstm,
    "W5": w5_rnn, "W6": w6_gradcheck, "W7": w7_hvp, "W8": w8_matmul,
    "W9": w9_vmath, "F1S": f1_step,
}


def main():
    parser = argparse.ArgumentParser(
        description="PyTorch's figures for the workloads of BENCHMARKS.md.")
    parser.add_argument("-w", "--workloads", nargs="+", metavar="W",
                        default=list(WORKLOADS),
                        help="workloads to run (default: W1 to W9 and F1S)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch.set_num_threads (default 1); set "
                             "OPENBLAS_NUM_THREADS in the environment too")
    parser.add_argument("--iters", type=int,
                        help="timed iterations of every workload "
                             "(default: as its C program)")
    parser.add_argument("--warmup", type=int,
                        help="warm-up iterations of every workload "
                             "(default: as its C program)")
    args = parser.parse_args()
    unknown = [w for w in args.workloads if w not in WORKLOADS]
    if unknown:
        parser.error("unknown workload %s (W1 to W9, F1S)" % ", ".join(unknown))
    if args.threads < 1 or (args.iters is not None and args.iters < 1) or \
            (args.warmup is not None and args.warmup < 0):
        parser.error("--threads and --iters need at least 1, --warmup 0")

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    rep = Reporter(args.threads)
    for w in args.workloads:
        iters, warmup = DEFAULT_COUNTS[w]
        WORKLOADS[w](rep, iters if args.iters is None else args.iters,
                      warmup if args.warmup is None else args.warmup)
    return 0


if __name__ == "__main__":
    sys.exit(main())
