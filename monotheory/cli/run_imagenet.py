"""``monotheory run-imagenet``: CL vs NCL vs SAE on ImageNet-100, CIFAR-100 or any ImageFolder.

Options come from :class:`monotheory.vision.config.RunConfig` and its stage configs (``--sae-k``,
``--probe-noise-rates``, ``--ft-epochs`` …). ``--preset`` picks the base settings (``paper`` or ``smoke``);
every option given explicitly overrides the preset. Torch is imported only when the run starts.

Examples::

    monotheory run-imagenet --data-root /data/imagenet --out results/in100
    monotheory run-imagenet --dataset cifar100 --data-root /data/cifar --out results/c100
    monotheory run-imagenet --dataset folder --data-root my_images --preset smoke --device cpu --out /tmp/r
    torchrun --nproc_per_node=4 -m monotheory run-imagenet --data-root /data/imagenet --out results/in100
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from monotheory.config import add_dataclass_arguments, check_choice, from_namespace, given_values, to_dict
from monotheory.files import check_out_dir
from monotheory.progress import announce
from monotheory.vision.config import (
    FINETUNE_RUN_FIELDS,
    NESTED,
    PRESETS,
    PretrainConfig,
    RunConfig,
    parse_shift,
)
from monotheory.vision.differences import comparison_lines
from monotheory.vision.presets import build_config, preset_values

# nested config → option prefix (pretraining options have none: --epochs, --batch-size, --lr …)
PREFIXES = {"pretrain": "", "sae": "sae-", "probe": "probe-", "finetune": "ft-", "shift_eval": "shift-"}


@dataclasses.dataclass
class RunOptions:
    """What ``monotheory run-imagenet`` does besides running (not part of the run's config)."""

    quiet: bool = dataclasses.field(default=False, metadata={"help": "no progress bars"})
    print_config: bool = dataclasses.field(default=False, metadata={
        "help": "print the resolved config (preset + options) as JSON and beside it the authors' settings "
                "(docs/differences.md), and exit without running"})


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Every option from a config: :class:`RunConfig` (``--preset``, ``--shift`` included), its stage configs
    under their prefixes, and :class:`RunOptions`."""
    add_dataclass_arguments(p, RunConfig, exclude=NESTED)
    add_dataclass_arguments(p, RunOptions)
    for name, cls in NESTED.items():  # one mechanism (monotheory.config), nested configs under option prefixes
        g = p.add_argument_group(f"{name} stage")
        add_dataclass_arguments(g, cls, prefix=PREFIXES[name], exclude=FINETUNE_RUN_FIELDS if name == "finetune" else ())


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The :class:`RunConfig` of parsed options: preset first, then every explicitly given option."""
    top = given_values(RunConfig, args, exclude=NESTED)
    preset = check_choice("preset", top.pop("preset", "paper"), PRESETS)
    if from_namespace(RunOptions, args).quiet:
        top["progress"] = False
    nested = {name: given_values(cls, args, prefix=PREFIXES[name]) for name, cls in NESTED.items()}
    dataset = top.pop("dataset", None) or "imagenet100"
    return build_config(preset, dataset, top, nested)


def print_config(cfg: RunConfig) -> None:
    """The resolved config as JSON, then the authors' settings beside it (:func:`differences.comparison_lines`)."""
    print(json.dumps(to_dict(cfg), indent=2, default=list))
    print("\n".join(comparison_lines(cfg)))


def main(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    if from_namespace(RunOptions, args).print_config:
        print_config(cfg)
        return 0
    from monotheory.vision.run import run

    default_epochs = preset_values(cfg.preset, cfg.dataset).get("pretrain", {}).get("epochs", PretrainConfig.epochs)
    if announce("run-imagenet", "--epochs", cfg.pretrain.epochs, default_epochs, quiet=cfg.progress is False) \
            and cfg.progress is None:
        cfg.progress = True  # progress lines in the log, too
    check_out_dir(cfg.out, inputs={"--data-root": cfg.data_root, **{f"--shift {n}": d for n, d in parse_shift(cfg.shift)}})

    summary = run(cfg)
    if summary:
        print((Path(cfg.out) / "summary.md").read_text())
    return 0
