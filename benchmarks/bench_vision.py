"""Pretraining throughput (images/s) of one CL step: plain fp32 eager vs the optimised step.

The optimised step is what ``monotheory run-imagenet`` uses on a GPU: channels_last memory format and bf16
autocast (plus ``torch.compile`` with ``--compile``). Both run on the same synthetic batches in the same
process; the script prints images/s for each and their ratio (optimised / plain). On a CPU bf16 autocast
may well be slower than fp32: the ratio says so, it is not assumed.

    python benchmarks/bench_vision.py                      # CPU: batch 8, 32-px and 224-px
    python benchmarks/bench_vision.py --device cuda --batch 128 --steps 20 --compile
"""

from __future__ import annotations

import argparse
import time

import torch

from monotheory.vision.config import PretrainConfig
from monotheory.vision.encoders import Encoder, EncoderConfig, contrastive_loss
from monotheory.vision.pretrain import make_optimizer


def throughput(size: int, *, device: torch.device, batch: int, steps: int, warmup: int, optimised: bool,
               compile: bool, arch: str, proj_hidden: int, proj_out: int) -> float:
    """Images (pairs of views count once) per second of forward + backward + LARS step."""
    torch.manual_seed(0)
    enc = Encoder(EncoderConfig(arch=arch, cifar_stem=size <= 64, proj_hidden=proj_hidden, proj_out=proj_out)).to(device)
    if optimised:
        enc = enc.to(memory_format=torch.channels_last)
    opt = make_optimizer(enc, PretrainConfig(epochs=1, batch_size=batch))
    fn = torch.compile(enc) if (optimised and compile) else enc
    x = torch.randn(2 * batch, 3, size, size, device=device)
    if optimised:
        x = x.contiguous(memory_format=torch.channels_last)

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=optimised):
            z = fn(x)
        loss = contrastive_loss(z[:batch], z[batch:], 0.2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - t0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--batch", type=int, default=8, help="images per step (two views each)")
    p.add_argument("--sizes", default="32,224", help="image sizes in pixels")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--arch", default="resnet18")
    p.add_argument("--proj-hidden", type=int, default=2048, help="projector width (paper: 16384)")
    p.add_argument("--proj-out", type=int, default=2048)
    p.add_argument("--compile", action="store_true", help="also torch.compile the optimised step")
    a = p.parse_args(argv)
    if a.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device available")
    device = torch.device(a.device)
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"# CL pretraining step, {a.arch}, projector {a.proj_hidden}->{a.proj_out}, batch {a.batch}, {name}")
    print(f"{'size':>5} {'plain fp32 img/s':>17} {'optimised img/s':>16} {'ratio':>6}")
    rows = []
    for size in (int(s) for s in a.sizes.split(",")):
        kw = dict(device=device, batch=a.batch, steps=a.steps, warmup=a.warmup, compile=a.compile, arch=a.arch,
                  proj_hidden=a.proj_hidden, proj_out=a.proj_out)
        plain = throughput(size, optimised=False, **kw)
        fast = throughput(size, optimised=True, **kw)
        print(f"{size:>5} {plain:>17.1f} {fast:>16.1f} {fast / plain:>6.2f}")
        rows.append({"size": size, "plain_images_per_s": plain, "optimised_images_per_s": fast,
                     "ratio_optimised_over_plain": fast / plain})
    print("optimised = channels_last + bf16 autocast" + (" + torch.compile" if a.compile else ""))
    import json

    print(json.dumps({"bench": "vision", "device": name, "arch": a.arch, "batch": a.batch, "compile": a.compile,
                      "rows": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
