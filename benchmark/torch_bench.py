"""PyTorch side of losskit's benchmark (driven by benchmark/run.mjs).

Reads one JSON config on stdin, prints one JSON object on stdout.

  {"mode": "bench", "threads": [1, 2], "budget_ms": 250, "sample_ms": 2,
   "min_reps": 5, "max_reps": 200, "slow_ms": 1000, "slow_max_reps": 3,
   "cap_ms": 5000, "huge_ms": 3000, "single_ms": 12000,
   "workloads": [{"id": "...", "loss": "crossEntropy", "grad": true, "n": 256, "c": 1000},
                 {"id": "...", "loss": "binaryCrossEntropyWithLogits", "grad": false, "numel": 320}, ...]}
  -> {"torch": "2.x", "results": [{"id": "...", "threads": 1, "median_ms": ..., "reps": ...}]}

  {"mode": "check", "cases": [{"loss": ..., "input": [...], "target": [...], "n":, "c":}]}
  -> {"results": [{"loss": float, "grad": [...]}]}   (float32, reduction 'mean')

gaussianNllLoss takes a third tensor, "variance" (shaped like the input, in
check cases too); its forward+grad differentiates with respect to the input and
the variance, and check results add "grad_variance".

The losses given as an argument list (MULTI: marginRankingLoss,
tripletMarginLoss, cosineEmbeddingLoss, tripletMarginWithDistanceLoss,
hingeEmbeddingLoss, softMarginLoss, multiMarginLoss, multilabelSoftMarginLoss,
multilabelMarginLoss) differentiate with respect to their first k tensors;
INT_ARGS lists their class-index (int64) arguments. Bench
workloads give "numel" (marginRankingLoss) or "n" and "dim" (the row losses) and
"variant" ("y1": every cosineEmbeddingLoss target 1); check cases give "args",
the arguments as flat lists (the first k reshaped to (n, dim) for the row
losses), and check results have "grads", one flat list per differentiated tensor.

ctcLoss (SEQ) takes logProbs (T, N, C), padded targets (N, S), input and target
lengths: bench workloads give "t", "n", "c", "s" (logProbs = log_softmax of
U(-3, 3) along C, targets in [1, C), every length T and S; F.ctc_loss with the
logProbs a leaf and .backward(), its .grad reset to None before each call);
check cases give "t", "n", "c", "s", "log_probs", "targets", "input_lengths",
"target_lengths" as flat lists, and check results "loss" and "grad".

Timing mirrors run.mjs: one warm-up call, then timed samples (several calls
per sample for tiny workloads), the median of the samples, per thread count.
"""

import json
import sys
import time
import warnings

import torch
import torch.nn.functional as F

warnings.filterwarnings("ignore")  # kl_div's 'mean' reduction warning in torch 1.x


def loss_fn(name):
    if name == "crossEntropy":
        return lambda x, t: F.cross_entropy(x, t)
    if name == "nllLoss":
        return lambda x, t: F.nll_loss(x, t)
    if name == "klDiv":
        return lambda x, t: F.kl_div(x, t, reduction="mean")
    if name == "binaryCrossEntropy":
        return lambda x, t: F.binary_cross_entropy(x, t)
    if name == "binaryCrossEntropyWithLogits":
        return lambda x, t: F.binary_cross_entropy_with_logits(x, t)
    if name == "mseLoss":
        return lambda x, t: F.mse_loss(x, t)
    if name == "l1Loss":
        return lambda x, t: F.l1_loss(x, t)
    if name == "huberLoss":
        return lambda x, t: F.huber_loss(x, t, delta=1.0)
    if name == "smoothL1Loss":
        return lambda x, t: F.smooth_l1_loss(x, t, beta=1.0)
    if name == "gaussianNllLoss":
        return lambda x, t, v: F.gaussian_nll_loss(x, t, v)
    if name == "poissonNllLoss":
        return lambda x, t: F.poisson_nll_loss(x, t, log_input=True, full=False)
    if name == "marginRankingLoss":
        return lambda x1, x2, y: F.margin_ranking_loss(x1, x2, y, margin=1.0)
    if name == "tripletMarginLoss":
        return lambda a, p, n: F.triplet_margin_loss(a, p, n)  # margin 1, p 2, eps 1e-6
    if name == "cosineEmbeddingLoss":
        return lambda x1, x2, y: F.cosine_embedding_loss(x1, x2, y)  # margin 0
    if name == "tripletMarginWithDistanceLoss":
        return lambda a, p, n: F.triplet_margin_with_distance_loss(a, p, n)  # pairwise distance, margin 1
    if name == "hingeEmbeddingLoss":
        return lambda x, y: F.hinge_embedding_loss(x, y)  # margin 1
    if name == "softMarginLoss":
        return lambda x, y: F.soft_margin_loss(x, y)
    if name == "multiMarginLoss":
        return lambda x, y: F.multi_margin_loss(x, y)  # p 1, margin 1
    if name == "multilabelSoftMarginLoss":
        return lambda x, y: F.multilabel_soft_margin_loss(x, y)
    if name == "multilabelMarginLoss":
        return lambda x, y: F.multilabel_margin_loss(x, y)
    if name == "ctcLoss":
        return lambda lp, t, il, tl: F.ctc_loss(lp, t, il, tl)  # blank 0, reduction 'mean'
    raise ValueError(f"unknown loss {name}")


HAS_VARIANCE = ("gaussianNllLoss",)
# losses of several differentiable tensors: how many (the first k arguments)
MULTI = {"marginRankingLoss": 2, "tripletMarginLoss": 3, "cosineEmbeddingLoss": 2, "tripletMarginWithDistanceLoss": 3,
         "hingeEmbeddingLoss": 1, "softMarginLoss": 1, "multiMarginLoss": 1, "multilabelSoftMarginLoss": 1,
         "multilabelMarginLoss": 1}
ROW = ("tripletMarginLoss", "tripletMarginWithDistanceLoss", "cosineEmbeddingLoss", "multiMarginLoss",
       "multilabelSoftMarginLoss", "multilabelMarginLoss")
# class-index targets (int64): the argument positions
INT_ARGS = {"multiMarginLoss": (1,), "multilabelMarginLoss": (1,)}
SEQ = ("ctcLoss",)


def sign(shape, gen):
    return torch.where(torch.rand(shape, generator=gen) < 0.5, -1.0, 1.0)


def make_data(w, gen):
    name = w["loss"]
    if name in SEQ:
        t, n, c, s = w["t"], w["n"], w["c"], w["s"]
        lp = torch.log_softmax(torch.rand(t, n, c, generator=gen) * 6 - 3, dim=2)
        targets = torch.randint(1, c, (n, s), generator=gen)
        return lp, targets, torch.full((n,), t, dtype=torch.long), torch.full((n,), s, dtype=torch.long)
    if name in ("crossEntropy", "nllLoss"):
        n, c = w["n"], w["c"]
        x = torch.rand(n, c, generator=gen) * 6 - 3
        t = torch.randint(0, c, (n,), generator=gen)
        return x, t
    if name in ("tripletMarginLoss", "tripletMarginWithDistanceLoss"):
        n, d = w["n"], w["dim"]
        a = 2 * torch.rand(n, d, generator=gen) - 1
        p = a + 0.5 * (2 * torch.rand(n, d, generator=gen) - 1)
        k = 0.25 + 0.5 * torch.rand(n, 1, generator=gen)
        return a, p, a + k * (2 * torch.rand(n, d, generator=gen) - 1)
    if name == "cosineEmbeddingLoss":
        n, d = w["n"], w["dim"]
        x1 = 2 * torch.rand(n, d, generator=gen) - 1
        rho = 1.5 * torch.rand(n, 1, generator=gen) - 0.5
        x2 = rho * x1 + (2 * torch.rand(n, d, generator=gen) - 1)
        y = torch.ones(n) if w.get("variant") == "y1" else sign(n, gen)
        return x1, x2, y
    if name == "multiMarginLoss":
        n, d = w["n"], w["dim"]
        return 2 * torch.rand(n, d, generator=gen) - 1, torch.randint(0, d, (n,), generator=gen)
    if name == "multilabelSoftMarginLoss":
        n, d = w["n"], w["dim"]
        return 8 * torch.rand(n, d, generator=gen) - 4, (torch.rand(n, d, generator=gen) < 0.5).float()
    if name == "multilabelMarginLoss":  # 4 labels per row, one per quarter of [0, C), then -1
        n, d = w["n"], w["dim"]
        q = max(1, d // 4)
        t = torch.zeros(n, d, dtype=torch.long)
        k = min(4, d)
        t[:, :k] = (torch.arange(k) * q + torch.randint(0, q, (n, k), generator=gen)).clamp(max=d - 1)
        if d > 4:
            t[:, 4] = -1
        return 2 * torch.rand(n, d, generator=gen) - 1, t
    m = w["numel"]
    if name == "hingeEmbeddingLoss":
        return 2 * torch.rand(m, generator=gen), sign(m, gen)
    if name == "softMarginLoss":
        return 8 * torch.rand(m, generator=gen) - 4, sign(m, gen)
    if name == "marginRankingLoss":  # input2 = zeros, as run.mjs
        return 8 * torch.rand(m, generator=gen) - 4, torch.zeros(m), sign(m, gen)
    if name == "klDiv":
        return -3 * torch.rand(m, generator=gen), torch.rand(m, generator=gen)
    if name == "binaryCrossEntropy":
        return 0.01 + 0.98 * torch.rand(m, generator=gen), torch.rand(m, generator=gen)
    if name in ("binaryCrossEntropyWithLogits", "mseLoss", "l1Loss", "huberLoss", "smoothL1Loss", "poissonNllLoss"):
        return 8 * torch.rand(m, generator=gen) - 4, torch.rand(m, generator=gen)
    if name == "gaussianNllLoss":
        x = 8 * torch.rand(m, generator=gen) - 4
        t = torch.rand(m, generator=gen)
        return x, t, 0.1 + torch.rand(m, generator=gen)
    raise ValueError(f"unknown loss {name}")


def make_call_multi(w, *args):
    f = loss_fn(w["loss"])
    k = MULTI[w["loss"]]
    if not w["grad"]:
        def call_m():
            with torch.no_grad():
                return f(*args).item()
        return call_m
    diff = [a.detach().requires_grad_(True) for a in args[:k]]
    rest = list(args[k:])

    def call_m_grad():
        loss = f(*diff, *rest)
        gs = torch.autograd.grad(loss, diff)
        return (loss.item(), *gs)
    return call_m_grad


def make_call_seq(w, lp, targets, input_lengths, target_lengths):
    f = loss_fn(w["loss"])
    if not w["grad"]:
        def call_s():
            with torch.no_grad():
                return f(lp, targets, input_lengths, target_lengths).item()
        return call_s
    leaf = lp.detach().requires_grad_(True)

    def call_s_grad():
        leaf.grad = None  # a fresh gradient each call (no accumulation across calls)
        loss = f(leaf, targets, input_lengths, target_lengths)
        loss.backward()
        return loss.item(), leaf.grad
    return call_s_grad


def make_call(w, x, t, v=None):
    f = loss_fn(w["loss"])
    if v is not None:
        if not w["grad"]:
            def call_v():
                with torch.no_grad():
                    return f(x, t, v).item()
            return call_v
        xg = x.detach().requires_grad_(True)
        vg = v.detach().requires_grad_(True)

        def call_v_grad():
            loss = f(xg, t, vg)
            gx, gv = torch.autograd.grad(loss, (xg, vg))
            return loss.item(), gx, gv
        return call_v_grad
    if not w["grad"]:
        def call():
            with torch.no_grad():
                return f(x, t).item()
        return call
    xg = x.detach().requires_grad_(True)

    def call_grad():
        loss = f(xg, t)
        (g,) = torch.autograd.grad(loss, xg)
        return loss.item(), g
    return call_grad


def measure(call, cfg):
    """Median milliseconds per call; the same policy as measure() in run.mjs."""
    now = time.perf_counter_ns
    t0 = now()
    call()  # warm-up, also the first estimate
    first = (now() - t0) / 1e6
    if first >= cfg["single_ms"]:  # a very long call: the first run is the only one
        return first, 1
    if first >= cfg["huge_ms"]:  # a multi-second call: one run after the warm-up
        t0 = now()
        call()
        return (now() - t0) / 1e6, 1
    est = first
    if first < cfg["slow_ms"]:  # a second warm-up unless the call is slow
        t0 = now()
        call()
        est = min(est, (now() - t0) / 1e6)
    per_sample = max(1, min(10000, int(cfg["sample_ms"] / max(est, 1e-4))))
    samples = []
    start = now()
    while True:
        t0 = now()
        for _ in range(per_sample):
            call()
        samples.append((now() - t0) / 1e6 / per_sample)
        elapsed = (now() - start) / 1e6
        k = len(samples)
        if (k >= cfg["max_reps"] or (elapsed >= cfg["budget_ms"] and k >= cfg["min_reps"])
                or (est >= cfg["slow_ms"] and k >= cfg["slow_max_reps"]) or elapsed >= cfg["cap_ms"]):
            break
    samples.sort()
    k = len(samples)
    med = samples[k // 2] if k % 2 else (samples[k // 2 - 1] + samples[k // 2]) / 2
    return med, k * per_sample


def bench(cfg):
    gen = torch.Generator().manual_seed(1234)
    results = []
    for w in cfg["workloads"]:
        data = make_data(w, gen)
        if w["loss"] in SEQ:
            call = make_call_seq(w, *data)
        elif w["loss"] in MULTI:
            call = make_call_multi(w, *data)
        else:
            call = make_call(w, *data)
        for threads in cfg["threads"]:
            torch.set_num_threads(threads)
            med, reps = measure(call, cfg)
            results.append({"id": w["id"], "threads": threads, "median_ms": med, "reps": reps})
            print(f"torch {w['id']} {threads}t {med:.4f} ms", file=sys.stderr, flush=True)
        del data, call
    return {"torch": torch.__version__, "results": results}


def check(cfg):
    torch.set_num_threads(1)
    out = []
    for case in cfg["cases"]:
        if case["loss"] in SEQ:
            t, n, c, s = case["t"], case["n"], case["c"], case["s"]
            lp = torch.tensor(case["log_probs"], dtype=torch.float32).reshape(t, n, c).requires_grad_(True)
            targets = torch.tensor(case["targets"], dtype=torch.long).reshape(n, s)
            il = torch.tensor(case["input_lengths"], dtype=torch.long)
            tl = torch.tensor(case["target_lengths"], dtype=torch.long)
            loss = loss_fn(case["loss"])(lp, targets, il, tl)
            loss.backward()
            out.append({"loss": loss.item(), "grad": lp.grad.reshape(-1).tolist()})
            continue
        if case["loss"] in MULTI:
            k = MULTI[case["loss"]]
            ints = INT_ARGS.get(case["loss"], ())
            ts = [torch.tensor(a, dtype=torch.int64 if i in ints else torch.float32) for i, a in enumerate(case["args"])]
            if case["loss"] in ROW:  # every (N, D) argument, targets included
                ts = [t.reshape(case["n"], case["dim"]) if t.numel() == case["n"] * case["dim"] else t for t in ts]
            for t in ts[:k]:
                t.requires_grad_(True)
            loss = loss_fn(case["loss"])(*ts)
            gs = torch.autograd.grad(loss, ts[:k])
            out.append({"loss": loss.item(), "grads": [g.reshape(-1).tolist() for g in gs]})
            continue
        if case["loss"] in ("crossEntropy", "nllLoss"):
            x = torch.tensor(case["input"], dtype=torch.float32).reshape(case["n"], case["c"])
            t = torch.tensor(case["target"], dtype=torch.int64)
        else:
            x = torch.tensor(case["input"], dtype=torch.float32)
            t = torch.tensor(case["target"], dtype=torch.float32)
        x.requires_grad_(True)
        if case["loss"] in HAS_VARIANCE:
            v = torch.tensor(case["variance"], dtype=torch.float32).requires_grad_(True)
            loss = loss_fn(case["loss"])(x, t, v)
            g, gv = torch.autograd.grad(loss, (x, v))
            out.append({"loss": loss.item(), "grad": g.reshape(-1).tolist(), "grad_variance": gv.reshape(-1).tolist()})
            continue
        loss = loss_fn(case["loss"])(x, t)
        (g,) = torch.autograd.grad(loss, x)
        out.append({"loss": loss.item(), "grad": g.reshape(-1).tolist()})
    return {"torch": torch.__version__, "results": out}


def main():
    cfg = json.load(sys.stdin)
    result = check(cfg) if cfg["mode"] == "check" else bench(cfg)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
