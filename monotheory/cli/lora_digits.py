"""``monotheory lora-digits``: LoRA vs MonoLoRA vs full fine-tuning on digits under label noise (an analogue of C9 /
C11, not the paper's LLM run). Options from :class:`monotheory.lora.digits.LoRADigitsConfig`; the run is
:func:`monotheory.lora.digits.run`."""

from __future__ import annotations

import argparse
import sys

from monotheory.config import add_dataclass_arguments, from_namespace
from monotheory.lora.digits import LoRADigitsConfig, run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_dataclass_arguments(parser, LoRADigitsConfig)


def main(args: argparse.Namespace) -> int:
    res = run(from_namespace(LoRADigitsConfig, args))
    for w in res.get("warnings", []):  # also in lora_digits.json ("warnings") and lora_digits.md, even with --quiet
        print(f"warning: {w}", file=sys.stderr)
    return 0
