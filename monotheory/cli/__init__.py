"""The ``monotheory`` command: one subcommand per job, each a thin layer over one library call.

One module of this package per command (``monotheory.cli.check``, ``.theory``, ``.toy``, ``.run_imagenet``,
``.verify``, ``.probe``, ``.lora_digits``); command lines are parsed here and nowhere below. Only the chosen
subcommand's module is imported, so ``monotheory theory`` never loads torch. Each command module provides
``add_arguments(parser)`` and ``main(args) -> int``. A
:class:`~monotheory.errors.ConfigError` (bad value, missing file) is printed as one line on stderr with
exit status 2; so is an argparse usage error.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import importlib.util
import os
import re
import sys

from monotheory import __version__
from monotheory.claims.runner import missing_extra
from monotheory.errors import ConfigError

# name → (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("monotheory.cli.check", "run every paper check that can run here; write results/verdicts.{json,md}"),
    "theory": ("monotheory.cli.theory", "the two-feature theory (Thm 4.1, 4.2, App. B.3): exact and Monte Carlo"),
    "toy": ("monotheory.cli.toy", "Elhage et al. toy models: mono vs poly under label and input noise (Fig. 5)"),
    "run-imagenet": ("monotheory.cli.run_imagenet", "CL vs NCL vs SAE on ImageNet-100 (or a folder): pretrain, probe, "
                     "fine-tune, shift"),
    "verify": ("monotheory.cli.verify", "re-derive a check or run-imagenet folder's tables and check its "
               "manifest.json"),
    "probe": ("monotheory.cli.probe", "robustness profile of any feature set or encoder (label/input noise, shift)"),
    "lora-digits": ("monotheory.cli.lora_digits", "LoRA vs MonoLoRA vs full fine-tuning on digits under label noise "
                    "(an analogue of C9 / C11, not the paper's LLM run)"),
}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``monotheory theory: error: ...``) and exit 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


# a value that starts with "-" but is a number or a list of numbers: "-1,1", "-1e-3", "-inf", "-.5,0"
_NEGATIVE = re.compile(r"^-(\d|\.\d|inf|nan)", re.IGNORECASE)


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    return parser._subparsers._group_actions[0].choices[command]


def prepare_argv(parser: argparse.ArgumentParser, command: str, argv: list[str]) -> list[str]:
    """``argv`` made safe for argparse, before it parses: an option followed by a negative number or list of numbers
    (``--weights -1,1``, ``--std -1,-1,-1``: argparse reads these as options) becomes ``--weights=-1,1``; an unknown
    option is refused in one line that names the closest option (``--seeds`` → ``--n-seeds``), rather than left to
    argparse, which may report the value after it as a bad positional argument."""
    sub = _subparser(parser, command)
    known = sub._option_string_actions
    out, i = [], 0
    while i < len(argv):
        tok = argv[i]
        if tok == "--":
            return out + argv[i:]
        name = tok.split("=", 1)[0]
        if tok.startswith("--") and name not in known and not [o for o in known if o.startswith(name)]:
            longs = [o for o in known if o.startswith("--")]
            near = [o for o in longs if o.endswith("-" + name[2:])] or difflib.get_close_matches(name, longs, n=1)
            hint = f" (did you mean {near[0]}?)" if near else f" (see monotheory {command} --help)"
            sub.error(f"unrecognized arguments: {name}{hint}")
        action = known.get(tok)
        if action is not None and action.nargs is None and i + 1 < len(argv) and _NEGATIVE.match(argv[i + 1]):
            out.append(f"{tok}={argv[i + 1]}")
            i += 2
            continue
        out.append(tok)
        i += 1
    return out


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = _Parser(prog="monotheory", description="Checkable software for 'Beyond Interpretability: "
                     "The Gains of Feature Monosemanticity on Model Robustness' (ICLR 2025).")
    parser.add_argument("--version", action="version", version=f"monotheory {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (module, help_) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_, description=help_)
        if name == command:
            importlib.import_module(module).add_arguments(sp)
    return parser


# the optional modules a command cannot start without (its extra is named by claims.runner.EXTRAS)
REQUIRES: dict[str, tuple[str, ...]] = {"toy": ("torch",), "run-imagenet": ("torch", "torchvision"),
                                        "probe": ("torch",), "lora-digits": ("torch", "torchvision")}


def _check_requirements(command: str | None) -> None:
    """Raise ModuleNotFoundError for the first missing module ``command`` needs (before parsing, so
    ``--help`` says it too)."""
    for name in REQUIRES.get(command or "", ()):
        if importlib.util.find_spec(name) is None:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


def _missing_extra(command: str | None, error: ModuleNotFoundError) -> int:
    """One line naming the extra to install when an optional dependency (torch, …) is missing; exit 2."""
    extra = missing_extra(error)
    if extra is None:
        raise error
    print(f"monotheory {command}: error: this command needs {error.name}, which is not installed; "
          f"install it with: pip install 'monotheory[{extra}]'", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in COMMANDS else None
    try:
        _check_requirements(command)
        parser = build_parser(command)
    except ModuleNotFoundError as e:
        return _missing_extra(command, e)
    if command is not None:
        argv = [command, *prepare_argv(parser, command, argv[1:])]
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(importlib.import_module(COMMANDS[args.command][0]).main(args) or 0)
    except ConfigError as e:
        print(f"monotheory {args.command}: error: {e}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as e:
        return _missing_extra(args.command, e)
    except BrokenPipeError:  # e.g. `monotheory theory --json | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0
    except KeyboardInterrupt:
        print(f"monotheory {args.command}: interrupted; finished results are kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
