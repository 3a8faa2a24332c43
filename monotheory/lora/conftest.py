"""pytest (doctest collection of the package): skip the peft integration module when peft is not installed."""

import importlib.util

collect_ignore = [] if importlib.util.find_spec("peft") else ["hf.py"]
