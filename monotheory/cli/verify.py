"""``monotheory verify DIR``: re-derive a results folder's tables and check its ``manifest.json``
(:func:`monotheory.claims.verify.verify`); exit status 0 when everything matches, 1 naming the first mismatch."""

from __future__ import annotations

import argparse
import sys

from monotheory.claims.verify import verify
from monotheory.errors import ConfigError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", metavar="DIR", help="a `monotheory check` or `run-imagenet` output folder")
    p.add_argument("--retrain", metavar="ID", default=None,
                   help="also rerun one check (e.g. C6) of a check folder, or one stage (pretrain, sae, probe, "
                        "finetune, shift) of a run-imagenet folder, from its saved inputs and seed, and compare "
                        "(bit-identical on CPU; within rtol 1e-3, atol 1e-4 on CUDA)")


def main(args: argparse.Namespace) -> int:
    if args.retrain is not None and not args.retrain.strip():
        raise ConfigError("--retrain '' is empty; give a claim id such as C6 or a run-imagenet stage such as sae")
    bad = verify(args.dir, args.retrain)
    for line in bad:
        print(f"MISMATCH {line}")
    if bad:
        print(f"monotheory verify: {args.dir}: {len(bad)} mismatch(es); first: {bad[0]}", file=sys.stderr)
        return 1
    print(f"monotheory verify: {args.dir}: every table re-derived and every file matches manifest.json"
          + (f"; {args.retrain} reproduces" if args.retrain else ""))
    return 0
