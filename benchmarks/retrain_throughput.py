"""Images per second of the retrain step (forward with the auxiliary head, loss, backward, SGD
step, drop path on) for DARTS-V2 in the CIFAR form: eager vs torch.compile vs channels_last,
on the CPU, and on a GPU (if present) also with bf16 autocast.

    python -m benchmarks.retrain_throughput [--batch 32] [--layers 20] [--channels 36] [--iters 5]

The defaults are the real evaluation network (36 channels, 20 cells, 3.35M parameters).  A case
that cannot run (torch.compile without a C compiler, no GPU) prints why and the rest go on.
"""
from __future__ import annotations

import argparse
import contextlib
import time

import torch
import torch.nn.functional as F

from supernet.genotypes import published_genotype
from supernet.spaces.nasnet_cell.network import CellNetwork
from supernet.timing import median_time


def train_step_fn(device: str, batch: int, layers: int, channels: int, compile_: bool, channels_last: bool,
                  bf16: bool):
    torch.manual_seed(0)
    net = CellNetwork(published_genotype("darts_v2"), 3, 10, layers, channels, auxiliary=True,
                          drop_path_prob=0.2).to(device).train()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    net = net.to(memory_format=fmt)
    opt = torch.optim.SGD(net.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    x = torch.randn(batch, 3, 32, 32, device=device).to(memory_format=fmt)
    y = torch.randint(0, 10, (batch,), device=device)
    forward = torch.compile(net.forward_with_aux) if compile_ else net.forward_with_aux

    def step():
        with torch.autocast(device, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
            logits, aux = forward(x)
            loss = F.cross_entropy(logits.float(), y) + 0.4 * F.cross_entropy(aux.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
    return step


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--layers", type=int, default=20)
    p.add_argument("--channels", type=int, default=36)
    p.add_argument("--iters", type=int, default=5, help="timed steps (median), after 2 warm-up steps")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    cases = [("cpu", "eager", False, False, False), ("cpu", "channels_last", False, True, False),
             ("cpu", "compile", True, False, False), ("cpu", "compile+channels_last", True, True, False)]
    if torch.cuda.is_available():
        cases += [("cuda", name, c, cl, bf) for name, c, cl, bf in (
            ("eager", False, False, False), ("channels_last", False, True, False),
            ("bf16+channels_last", False, True, True), ("compile+bf16+channels_last", True, True, True))]
    else:
        print("no GPU: the cuda cases (incl. bf16 autocast) are skipped")
    print(f"DARTS-V2 CIFAR form, {a.layers} cells, {a.channels} channels, batch {a.batch}, 32x32, "
          f"{torch.get_num_threads()} CPU threads, torch {torch.__version__}")
    print(f"{'device':6s} {'case':28s} {'images/s':>10s} {'step ms':>9s} {'setup s':>8s}")
    for device, name, compile_, cl, bf16 in cases:
        t0 = time.perf_counter()
        try:
            step = train_step_fn(device, a.batch, a.layers, a.channels, compile_, cl, bf16)
            step()  # compile happens here
            setup = time.perf_counter() - t0
            sec = median_time(step, warmup=1, repeat=a.iters, device=device)
        except Exception as e:  # e.g. inductor without a working C compiler: report, continue
            print(f"{device:6s} {name:28s} failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
            continue
        print(f"{device:6s} {name:28s} {a.batch / sec:10.1f} {sec * 1e3:9.1f} {setup:8.1f}")


if __name__ == "__main__":
    main()
