"""The adapter's robustness analogue of C9 on scikit-learn's digits: LoRA vs MonoLoRA vs full fine-tuning under
label noise. An ANALOGUE, not the paper's experiment (§5.3 fine-tunes Llama-2 on SST2/Dolly and judges
alignment; none of that runs here).

Pipeline (``monotheory lora-digits``, or ``python -m monotheory.lora.digits``):

1. the digits (1,797 8×8 images, 10 classes) are written as an ImageFolder (``image_size`` px RGB, 16 by
   default) by :func:`monotheory.vision.digits.write_digits_folder`: the split of ``--dataset digits`` (every
   5th image of a class to ``val``);
2. a CL (SimCLR) encoder is pretrained with ``run-imagenet --dataset folder --preset smoke --stages pretrain``
   (the narrow TinyResNet, crops of ``image_size``; resumed if already there);
3. for each label-noise rate η, seed and method, :func:`monotheory.vision.finetune.finetune` trains a linear
   classifier on top of the encoder (CE head, projector frozen, un-augmented training images, η of the training
   labels flipped, validation labels clean): ``full`` also trains the whole backbone (its BatchNorm statistics
   move); ``lora`` / ``monolora`` wrap every Conv2d of the backbone in a rank-r adapter (``relu=None`` /
   ``relu``) and train only the adapters and the classifier (base weights and BatchNorm statistics frozen);
4. per run: final-epoch train accuracy against the noisy labels it was trained on (running accuracy during
   the epoch) and against the true labels, final validation accuracy, and for adapters the share of zeros,
   the paper's sparsity and the monosemanticity score of their codes on the validation images;
5. per η: means with t intervals over seeds, paired t intervals (:func:`monotheory.stats.paired_t`, units =
   seeds, same data split, noise and classifier init within a seed) for monolora−lora, monolora−full and
   lora−full, Holm-adjusted over all comparisons of the run; a gap whose interval contains 0 is printed as
   inconclusive (:func:`reading`).

Results: ``lora_digits.json`` (every run, the summary, the config) and ``lora_digits_accuracy.png`` with its data
(``lora_digits_accuracy.json``; a distinct name, so the figure's data never overwrites the results file).
"""

from __future__ import annotations

import copy
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from monotheory.config import (
    check_choice,
    check_int,
    check_probability,
    check_range,
    check_unique,
    to_dict,
)
from monotheory.errors import ConfigError
from monotheory.files import atomic_write_json, atomic_write_text, check_out_dir
from monotheory.lora import LoRAConfig, activation_measures, inject, record_codes
from monotheory.noise import check_label_noise_rate
from monotheory.plots import pyplot, save_figure
from monotheory.stats import holm, paired_t, t_interval
from monotheory.vision.context import RunContext
from monotheory.vision.digits import write_digits_folder
from monotheory.vision.finetune import finetune
from monotheory.vision.finetune_config import FinetuneConfig
from monotheory.vision.presets import build_config
from monotheory.vision.run import run as run_vision

METHODS = ("full", "lora", "monolora")
PAIRS = (("monolora", "lora"), ("monolora", "full"), ("lora", "full"))


@dataclass
class LoRADigitsConfig:
    """The digits analogue of C9 with adapters (see the module docstring)."""

    out: str = field(default="results/lora_digits", metadata={"help": "output folder"})
    data_root: str = field(default="", metadata={"help": "digits ImageFolder (written there if missing); "
                                                 "default: <out>/digits"})
    image_size: int = field(default=16, metadata={"help": "side in pixels of the written digits images (8×8 "
                                                 "upsampled; 16 keeps a CPU run short)"})
    pretrain_epochs: int = field(default=5, metadata={"help": "SimCLR pretraining epochs (smoke preset)"})
    epochs: int = field(default=6, metadata={"help": "fine-tuning epochs per run"})
    noise_rates: tuple[float, ...] = field(default=(0.0, 0.5, 0.8), metadata={"help": "label-noise rates η"})
    seeds: tuple[int, ...] = field(default=(0, 1, 2), metadata={"help": "seeds (≥ 2 for intervals)"})
    methods: tuple[str, ...] = field(default=METHODS, metadata={"help": "full, lora, monolora"})
    rank: int = field(default=4, metadata={"help": "adapter rank r"})
    alpha: float = field(default=8.0, metadata={"help": "adapter scale numerator (branch × alpha/rank)"})
    relu: str = field(default="hidden", metadata={"help": "MonoLoRA ReLU placement: hidden or output"})
    lr_full: float = field(default=0.05, metadata={"help": "SGD lr of full fine-tuning (the smoke preset's)"})
    lr_adapter: float = field(default=0.01, metadata={"help": "SGD lr of the adapter runs (0.05 diverged to NaN "
                                                      "for plain LoRA; 0.01 and 0.02 were stable, clean labels, seed 0)"})
    batch_size: int = field(default=64, metadata={"help": "batch size"})
    device: str = field(default="cpu", metadata={"help": "cpu or cuda"})
    threads: int = field(default=0, metadata={"help": "torch CPU threads (0: torch's default)"})
    quiet: bool = field(default=False, metadata={"help": "no progress lines"})

    def __post_init__(self):
        self.noise_rates = tuple(float(r) for r in self.noise_rates)
        self.seeds = tuple(int(s) for s in self.seeds)
        self.methods = tuple(self.methods)
        self.check()

    def check(self) -> None:
        check_int("image_size", self.image_size, minimum=8, maximum=64)
        check_int("pretrain_epochs", self.pretrain_epochs)
        check_int("epochs", self.epochs)
        if not self.noise_rates or not self.seeds or not self.methods:
            raise ConfigError("noise_rates, seeds and methods must each hold at least one value")
        for r in self.noise_rates:
            check_probability("noise rate", r)
        for s in self.seeds:
            check_int("seed", s, minimum=0)
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds = {self.seeds} repeat a seed; give distinct seeds")
        for m in self.methods:
            check_choice("method", m, METHODS)
        check_unique("noise_rates", self.noise_rates)
        check_unique("methods", self.methods)
        LoRAConfig(rank=self.rank, alpha=self.alpha, relu=self.relu)  # validates rank, alpha, relu
        if self.relu is None or self.relu == "none":
            raise ConfigError("relu = None is plain LoRA; MonoLoRA needs relu = hidden or output")
        check_range("lr_full", self.lr_full, 0, 100, lo_closed=False)
        check_range("lr_adapter", self.lr_adapter, 0, 100, lo_closed=False)
        check_int("batch_size", self.batch_size, minimum=2)
        check_choice("device", self.device, ("cpu", "cuda"))
        check_int("threads", self.threads, minimum=0)


class _FrozenStats(nn.Module):
    """A backbone whose ``train()`` keeps every BatchNorm in eval mode (adapter runs change nothing of the base
    model but the adapters)."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def train(self, mode: bool = True):
        super().train(mode)
        for m in self.body.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
        return self

    def forward(self, x):
        return self.body(x)


def _in_memory(ds):
    """The (un-augmented) data set decoded once into tensors: PNG decoding would otherwise dominate every epoch
    of these 16-px images. Keeps ``.targets`` and ``.classes``, as :func:`monotheory.vision.finetune.finetune` needs."""
    xs, ys = zip(*(ds[i] for i in range(len(ds))), strict=True)
    out = torch.utils.data.TensorDataset(torch.stack(xs), torch.as_tensor(ys))
    out.targets = [int(y) for y in ys]
    out.classes = list(getattr(ds, "classes", sorted(set(out.targets))))
    return out


def _one_run(encoder, train, val, num_classes: int, cfg: LoRADigitsConfig, method: str, rate: float, seed: int):

    enc = copy.deepcopy(encoder).cpu()
    lcfg = None
    if method != "full":
        lcfg = LoRAConfig(rank=cfg.rank, alpha=cfg.alpha, relu=None if method == "lora" else cfg.relu, seed=seed)
        inject(enc.backbone, lcfg)  # every Conv2d of the backbone; all else frozen
        enc.backbone = _FrozenStats(enc.backbone)
    fcfg = FinetuneConfig(head="ce", epochs=cfg.epochs, lr=cfg.lr_full if method == "full" else cfg.lr_adapter,
                          batch_size=cfg.batch_size, schedule="cosine", weight_decay=1e-4, noise_rate=rate,
                          seed=seed)
    t0 = time.perf_counter()
    res = finetune(enc, train, val, num_classes, fcfg, device=cfg.device, progress=False, return_model=True)
    model = res.pop("model")
    row = {"method": method, "noise_rate": rate, "seed": seed, "seconds": time.perf_counter() - t0,
           "train_acc": res["history"][-1]["train_acc"], "train_acc_clean": res["history"][-1]["train_acc_clean"],
           "val_acc": res["final_val_acc"], "realised_noise_rate": res["realised_noise_rate"],
           "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
           "lora": None if lcfg is None else lcfg.to_dict(), "history": res["history"]}
    row["diverged"] = not all(np.isfinite(h["loss"]) for h in res["history"])
    if lcfg is not None and not row["diverged"]:  # adapter activations on the validation images
        loader = torch.utils.data.DataLoader(val, batch_size=128, shuffle=False)
        labels = np.asarray(val.targets)
        model.eval()
        with torch.no_grad(), record_codes(model, "code") as codes, record_codes(model, "output") as outs:
            for x, _ in loader:
                model(x.to(cfg.device))
        row["code"] = activation_measures(codes, labels)["mean"]
        row["output"] = {k: v for k, v in activation_measures(outs)["mean"].items()}
    return row


def summarise(runs: list[dict], cfg: LoRADigitsConfig) -> dict:
    """Per noise rate: per-method means with t intervals, paired t gaps over seeds, Holm over all gaps."""
    out, tests = {}, []
    for rate in cfg.noise_rates:
        cell = {"methods": {}, "gaps": {}}
        by = {m: {r["seed"]: r for r in runs if r["method"] == m and r["noise_rate"] == rate} for m in cfg.methods}
        for m, rs in by.items():
            rows = [rs[s] for s in cfg.seeds]
            d = {}
            for k in ("train_acc", "train_acc_clean", "val_acc"):
                mean, lo, hi = t_interval([r[k] for r in rows])
                d[k] = {"mean": mean, "ci": [lo, hi], "values": [r[k] for r in rows]}
            d["diverged"] = sum(bool(r.get("diverged")) for r in rows)
            if m != "full" and all("code" in r for r in rows):
                for part in ("code", "output"):
                    d[part] = {k: float(np.mean([r[part][k] for r in rows])) for k in rows[0][part]}
            cell["methods"][m] = d
        for a, b in PAIRS:
            if a in by and b in by:
                for k in ("train_acc", "val_acc"):
                    g = paired_t([by[a][s][k] for s in cfg.seeds], [by[b][s][k] for s in cfg.seeds])
                    cell["gaps"][f"{a}-{b}:{k}"] = g
                    tests.append(g)
        out[f"{rate:g}"] = cell
    if tests:
        adj = holm([g["p_value"] if np.isfinite(g["p_value"]) else 1.0 for g in tests])
        for g, p in zip(tests, adj, strict=True):
            g["p_holm"] = float(p)
    return out


def reading(name: str, gap: dict, level: float = 0.05) -> str:
    """What a paired gap ``a-b:metric`` shows, without over-claiming: an interval that contains 0 is
    inconclusive; one that excludes 0 names the direction, and whether it survives Holm.

    >>> reading("monolora-lora:val_acc", {"mean": 0.01, "ci": [-0.02, 0.04], "p_holm": 0.9})
    'inconclusive (CI contains 0)'
    >>> reading("monolora-lora:val_acc", {"mean": -0.03, "ci": [-0.05, -0.01], "p_holm": 0.2})
    'monolora lower (CI excludes 0; not after Holm)'
    """
    lo, hi = gap["ci"]
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo <= 0 <= hi:
        return "inconclusive (CI contains 0)"
    a = name.split("-", 1)[0]
    side = "higher" if gap["mean"] > 0 else "lower"
    holm_ok = gap.get("p_holm", 1.0) < level
    return f"{a} {side} (CI excludes 0; {'survives Holm' if holm_ok else 'not after Holm'})"


def table_markdown(summary: dict, cfg: LoRADigitsConfig) -> str:
    """One row per (η, method): train (noisy labels) and val accuracy with 95 % t intervals, the adapters' share
    of exact zeros in the rank-r code (``hidden`` puts the ReLU there) and in the branch output (``output``
    puts it there), the codes' monosemanticity; then the paired gaps with what each shows."""
    lines = ["| η | method | train acc (noisy labels) | val acc | code zeros | output zeros | code monosem. |",
             "|---|---|---|---|---|---|---|"]
    for rate, cell in summary.items():
        for m, d in cell["methods"].items():
            tr, va = d["train_acc"], d["val_acc"]
            z = f"{d['code']['zero_fraction']:.2f}" if "code" in d else "–"
            oz = f"{d['output']['zero_fraction']:.2f}" if "output" in d else "–"
            ms = f"{d['code']['monosemanticity']:.2f}" if "code" in d else "–"
            lines.append(f"| {rate} | {m} | {100 * tr['mean']:.1f} [{100 * tr['ci'][0]:.1f}, {100 * tr['ci'][1]:.1f}]"
                         f" | {100 * va['mean']:.1f} [{100 * va['ci'][0]:.1f}, {100 * va['ci'][1]:.1f}] | {z} | {oz} "
                         f"| {ms} |")
    lines += ["", "| η | gap a−b (paired t over seeds) | mean (pt) | 95 % CI (pt) | p | p (Holm) | reading |",
              "|---|---|---|---|---|---|---|"]
    for rate, cell in summary.items():
        for name, g in cell["gaps"].items():
            lines.append(f"| {rate} | {name} | {100 * g['mean']:+.1f} | [{100 * g['ci'][0]:+.1f}, "
                         f"{100 * g['ci'][1]:+.1f}] | {g['p_value']:.3f} | {g.get('p_holm', float('nan')):.3f} | "
                         f"{reading(name, g)} |")
    return "\n".join(lines)


def plot(summary: dict, path: Path) -> None:
    """Train (noisy labels) and val accuracy against η per method, with t intervals; PNG + JSON data."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), sharey=True)
    rates = [float(r) for r in summary]
    data = {"noise_rates": rates, "series": {}}
    for ax, key, title in zip(axes, ("train_acc", "val_acc"), ("train (noisy labels)", "validation (clean)"),
                              strict=True):
        for m in next(iter(summary.values()))["methods"]:
            ds = [summary[r]["methods"][m][key] for r in summary]
            mean = np.array([d["mean"] for d in ds])
            err = np.array([[d["mean"] - d["ci"][0], d["ci"][1] - d["mean"]] for d in ds]).T
            ax.errorbar(rates, mean, yerr=np.nan_to_num(err), marker="o", capsize=3, label=m)
            data["series"][f"{m}:{key}"] = {"mean": mean.tolist(), "ci": [d["ci"] for d in ds]}
        ax.axhline(0.1, color="grey", lw=0.8, ls=":")  # chance: 10 classes
        ax.set(title=title, xlabel="label-noise rate η", ylabel="top-1 accuracy")
    axes[0].legend()
    fig.suptitle("digits analogue of C9 with adapters (not the paper's LLM experiment)", fontsize=9)
    save_figure(fig, path, data)


def diverged_runs(runs: list[dict]) -> list[str]:
    """One warning naming the runs whose training loss went NaN or infinite (issue 23: never a silent number)."""
    bad = [f"{r['method']} η={r['noise_rate']:g} seed {r['seed']}" for r in runs if r.get("diverged")]
    return [f"{len(bad)} of {len(runs)} runs diverged (loss NaN or infinite): {', '.join(bad)}"] if bad else []


def check_before_work(cfg: LoRADigitsConfig) -> None:
    """Refuse, before any work (issue 11): an ``out`` that cannot be written or lies inside ``data_root``, a
    ``data_root`` that is a file, and noise rates that the number of classes makes degenerate (flip η ≥ (C−1)/C,
    :func:`monotheory.noise.check_label_noise_rate`; C = 10 for the written digits folder)."""
    root = Path(cfg.data_root) if cfg.data_root else None
    if root is not None and root.exists() and not root.is_dir():
        raise ConfigError(f"--data-root {cfg.data_root!r} is a file, not a folder")
    check_out_dir(cfg.out, inputs={"--data-root": root})
    train = root / "train" if root is not None else None
    classes = len([d for d in train.iterdir() if d.is_dir()]) if train is not None and train.is_dir() else 10
    if classes >= 2:  # fewer: refused with its own message by the pretraining stage
        for rate in cfg.noise_rates:
            check_label_noise_rate("noise_rate", rate, classes, "flip")


def run(cfg: LoRADigitsConfig, log=None) -> dict:
    """Pretrain (or reuse) the encoder, run every (η, seed, method), write ``lora_digits.json`` + figure."""
    if not isinstance(cfg, LoRADigitsConfig):
        raise ConfigError(f"cfg must be a LoRADigitsConfig, got {type(cfg).__name__}")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    log = log or (lambda msg: None if cfg.quiet else print(f"[lora-digits] {msg}", file=sys.stderr, flush=True))
    check_before_work(cfg)
    out = Path(cfg.out)
    root = write_digits_folder(Path(cfg.data_root) if cfg.data_root else out / f"digits{cfg.image_size}",
                               size=cfg.image_size)
    vcfg = build_config("smoke", "folder", top=dict(data_root=str(root), out=str(out / "pretrain"), methods=("cl",),
                                                    stages=("pretrain",), device=cfg.device, progress=False,
                                                    crop_size=cfg.image_size),
                        nested={"pretrain": {"epochs": cfg.pretrain_epochs}})
    run_vision(vcfg, log=lambda m: log(f"pretrain: {m}"))
    ctx = RunContext(vcfg, log=log)
    encoder = ctx.load_encoder("cl", "finetune").cpu()
    train, val, num_classes = _in_memory(ctx.train_eval), _in_memory(ctx.val), ctx.num_classes
    parts = out / "runs"
    runs = []
    for seed in cfg.seeds:  # seed-major: an interrupted run has every η for the first seeds
        for rate in cfg.noise_rates:
            for m in cfg.methods:
                part = parts / f"{m}_n{rate:g}_s{seed}.json"
                if part.exists() and json.loads(part.read_text()).get("config") == to_dict(cfg) | {"quiet": None}:
                    runs.append(json.loads(part.read_text())["run"])
                    continue
                row = _one_run(encoder, train, val, num_classes, cfg, m, rate, seed)
                atomic_write_json(part, {"config": to_dict(cfg) | {"quiet": None}, "run": row})
                runs.append(row)
                log(f"η={rate:g} seed={seed} {m}: train {row['train_acc']:.3f} val {row['val_acc']:.3f} "
                    f"({row['seconds']:.0f} s)")
    summary = summarise(runs, cfg)
    warnings = diverged_runs(runs)
    table = "".join(f"warning: {w}\n\n" for w in warnings) + table_markdown(summary, cfg)
    res = {"what": "digits analogue of C9 with LoRA / MonoLoRA adapters; NOT the paper's §5.3 LLM experiment",
           "config": to_dict(cfg), "n_train": len(train), "n_val": len(val), "num_classes": num_classes,
           "chance": 1 / num_classes, "summary": summary, "runs": runs, "warnings": warnings}
    atomic_write_json(out / "lora_digits.json", res)
    atomic_write_text(out / "lora_digits.md", table + "\n")
    plot(summary, out / "lora_digits_accuracy.png")
    log(f"wrote {out / 'lora_digits.json'}\n{table}")
    return res


__all__ = ["LoRADigitsConfig", "reading", "run", "summarise", "table_markdown", "write_digits_folder"]
