"""``monotheory probe``: the paper's robustness profile for any feature set or encoder.

Inputs (exactly one form):

    monotheory probe --train tr.npz --test te.npz [--shift NAME=FILE …] --out P [--json]
    monotheory probe --encoder torchvision:resnet18 [--weights W.pt] --data-root DIR [--crop-size 32] --out Q
    monotheory probe --encoder my.module:make_encoder --data-root DIR …
    monotheory probe --encoder encoder.torchscript --data-root DIR …
    monotheory probe --run results/in100 --out R          # the cached features of a run-imagenet folder

``--mono sae-topk[:k],relu`` adds the paper's monosemantic views of the same features, compared with them by
paired statistics; ``--baselines l2,sae-random`` adds the strong baselines every view must also beat (an L2 probe
whose penalty is chosen on a held-out split of the noisy training labels; an untrained SAE beside each sae-topk
view). ``--out`` also gets the paper's Figure 4 (``figure4.png`` + ``figure4.json``). Every input is checked before any work starts; a problem is one line on stderr, exit 2,
and nothing is written. The profile options come from :class:`monotheory.probe.config.ProfileConfig`.
"""

from __future__ import annotations

import argparse
import math
import sys

from monotheory.config import add_dataclass_arguments, check_int, from_namespace, to_dict
from monotheory.errors import ConfigError
from monotheory.files import check_out_dir
from monotheory.probe.api import profile_encoder, profile_features, profile_run
from monotheory.probe.config import ProfileConfig
from monotheory.probe.feature_files import load_splits, parse_named


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("input: feature files")
    g.add_argument("--train", help="training features: FILE.npz (X, y), X.npy,y.npy, FILE.pt or FILE.safetensors")
    g.add_argument("--test", help="test features, same forms as --train")
    g.add_argument("--shift", action="append", metavar="NAME=PATH",
                   help="a shifted test set (a feature file, or a class-folder root with --encoder); repeatable")
    g = p.add_argument_group("input: an encoder on an ImageFolder root")
    g.add_argument("--encoder", help="torchvision:NAME, module.path:callable, or a TorchScript file")
    g.add_argument("--weights", help="a local state dict for the encoder (never downloaded)")
    g.add_argument("--data-root", help="ImageFolder root with train/ and val/ class folders")
    g.add_argument("--crop-size", type=int, help="image size fed to the encoder (default: from torchvision's "
                   "weights metadata, else 224)")
    g.add_argument("--resize", type=int, help="resize before the centre crop (crops > 64 px)")
    g.add_argument("--mean", help="normalisation mean, 3 comma-separated values (default: metadata/ImageNet)")
    g.add_argument("--std", help="normalisation std, 3 comma-separated values")
    g.add_argument("--extract-batch-size", type=int, default=256, help="extraction batch size (default: 256)")
    g.add_argument("--num-workers", type=int, default=0, help="data-loading workers (default: 0)")
    g.add_argument("--cache", help="feature cache folder (default: OUT/features; none without --out)")
    g = p.add_argument_group("input: a run-imagenet output folder")
    g.add_argument("--run", help="a run-imagenet --out folder; profiles its cached CL, SAE and NCL features")
    g = p.add_argument_group("profile")
    add_dataclass_arguments(g, ProfileConfig)
    p.add_argument("--out", help="write config.json, profile.json, profile.md, noise_curves.png/.json, correct.npz "
                   "and figure4.png/.json (the paper's Figure 4 at the grid's 0.9 rate, else its highest informative one)")
    p.add_argument("--json", action="store_true", help="print the profile as JSON instead of the table")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _floats(text: str | None, name: str):
    if text is None:
        return None
    try:
        v = [float(x) for x in text.split(",")]
    except ValueError:
        raise ConfigError(f"{name} = {text!r} is not 3 comma-separated numbers") from None
    if len(v) != 3:
        raise ConfigError(f"{name} = {text!r} needs 3 values (one per colour channel)")
    if not all(math.isfinite(x) for x in v):
        raise ConfigError(f"{name} = {text!r} holds {next(x for x in v if not math.isfinite(x))}; 3 finite numbers "
                          "are required")
    if name == "--std" and min(v) <= 0:
        raise ConfigError(f"{name} = {text!r} holds {min(v):g}; every std must be > 0")
    return v


def _check_device(device: str) -> None:
    import torch

    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ConfigError(f"device = {device!r} is not a torch device; use cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device = {device!r} but CUDA is not available here; use --device cpu")


def _mode(args) -> str:
    given = {"files": args.train is not None or args.test is not None,
             "encoder": args.encoder is not None or args.data_root is not None, "run": args.run is not None}
    chosen = [k for k, v in given.items() if v]
    if len(chosen) != 1:
        raise ConfigError("give exactly one input: --train/--test feature files, --encoder with --data-root, "
                          f"or --run (got {', '.join(chosen) or 'none'})")
    if chosen == ["files"] and (args.train is None or args.test is None):
        raise ConfigError("feature files need both --train and --test")
    if chosen == ["encoder"] and (args.encoder is None or args.data_root is None):
        raise ConfigError("an encoder needs both --encoder and --data-root")
    if args.weights is not None and args.encoder is None:
        raise ConfigError("--weights needs --encoder")
    if chosen == ["run"] and args.shift:
        raise ConfigError("--shift does not apply to --run (the run's shift stage has its own shift sets)")
    if chosen != ["encoder"]:
        for name in ENCODER_ONLY:
            if getattr(args, name) is not None:
                raise ConfigError(f"--{name.replace('_', '-')} {getattr(args, name)} applies only to --encoder "
                                  f"(the input here is {chosen[0]})")
    return chosen[0]


ENCODER_ONLY = ("crop_size", "resize", "mean", "std", "cache")  # options without a default that need --encoder


def _check_encoder_options(args) -> None:
    """The extraction options, checked in every mode (before any work), whether or not they are used."""
    for name in ("crop_size", "resize"):
        if getattr(args, name) is not None:
            check_int(name, getattr(args, name))
    check_int("extract_batch_size", args.extract_batch_size)
    check_int("num_workers", args.num_workers, minimum=0)
    _floats(args.mean, "--mean")
    _floats(args.std, "--std")


def main(args: argparse.Namespace) -> int:
    cfg = from_namespace(ProfileConfig, args)
    _check_encoder_options(args)
    mode = _mode(args)
    _check_device(cfg.device)
    shifts = parse_named(args.shift)
    # an --out that cannot be written is refused before any work (issue 11)
    out = check_out_dir(args.out, inputs={"--data-root": args.data_root}) if args.out is not None else None
    if args.cache is not None:  # a file or an unwritable folder is refused here, not at the first cache write
        check_out_dir(args.cache, "--cache")
    progress = False if args.quiet else None
    timing: dict = {}
    record = {"profile": to_dict(cfg), "input": mode, "argv": sys.argv[1:]}
    if mode == "files":
        d = load_splits(args.train, args.test, shifts)
        record.update(train=args.train, test=args.test, shifts=shifts)
        prof = profile_features(*d["train"], *d["test"], shifts=d["shifts"], config=cfg,
                                source=f"feature files {args.train} / {args.test}")
    elif mode == "encoder":
        cache = args.cache or (str(out / "features") if out is not None else None)
        record.update(encoder=args.encoder, weights=args.weights, data_root=args.data_root, shifts=shifts,
                      crop_size=args.crop_size, resize=args.resize, mean=args.mean, std=args.std, cache=cache)
        prof = profile_encoder(args.encoder, args.data_root, weights=args.weights, config=cfg,
                               crop_size=args.crop_size, resize=args.resize, mean=_floats(args.mean, "--mean"),
                               std=_floats(args.std, "--std"), shifts=shifts, batch_size=args.extract_batch_size,
                               num_workers=args.num_workers, cache_dir=cache, progress=progress, timing=timing)
    else:
        record.update(run=args.run)
        prof = profile_run(args.run, config=cfg)
    if timing.get("extract"):
        n = sum(t["n"] for t in timing["extract"])
        sec = sum(t["seconds"] for t in timing["extract"])
        prof.data["timing"] = {**timing, "seconds_per_1000_images": 1000 * sec / max(n, 1)}
        print(f"monotheory probe: extracted {n} images in {sec:.1f} s ({1000 * sec / max(n, 1):.1f} s per 1,000 "
              f"images on {cfg.device})", file=sys.stderr)
    for w in prof.data.get("warnings", []):  # also in the table, profile.md and the JSON's "warnings"
        print(f"warning: {w}", file=sys.stderr)
    if out is not None:
        prof.save(out, config=record)
    print(prof.to_json() if args.json else prof.table())
    return 0
