"""``monotheory verify DIR``: re-derive a results folder's tables and check its ``manifest.json``
(:func:`monotheory.claims.verify.verify`); exit status 0 when everything matches, 1 naming the first mismatch, 2
(one line naming the file and the key) when a file of the folder cannot be read. Verifying runs no code from the
folder or from any path it records: ``--retrain`` reruns the installed package's check, or one from a
``--checks-dir`` given here."""

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
    p.add_argument("--checks-dir", metavar="DIR", default=None,
                   help="with --retrain ID: rerun the check from this folder of check scripts (default: the installed "
                        "package's; a checks folder the results folder records is never run)")
    p.add_argument("--data-root", metavar="DIR", default=None,
                   help="with --retrain STAGE: the data to rerun the stage on (default: the root config.json records; "
                        "required for CIFAR-100, whose files are pickles)")


def main(args: argparse.Namespace) -> int:
    if args.retrain is not None and not args.retrain.strip():
        raise ConfigError("--retrain '' is empty; give a claim id such as C6 or a run-imagenet stage such as sae")
    for name in ("checks_dir", "data_root"):
        value = getattr(args, name)
        if value is not None and not value.strip():
            raise ConfigError(f"--{name.replace('_', '-')} '' is empty; give a folder")
    bad = verify(args.dir, args.retrain, checks_dir=args.checks_dir, data_root=args.data_root)
    for line in bad:
        print(f"MISMATCH {line}")
    if bad:
        print(f"monotheory verify: {args.dir}: {len(bad)} mismatch(es); first: {bad[0]}", file=sys.stderr)
        return 1
    print(f"monotheory verify: {args.dir}: every table re-derived and every file matches manifest.json"
          + (f"; {args.retrain} reproduces" if args.retrain else ""))
    return 0
