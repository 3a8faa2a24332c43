"""monotheory: the robustness gains of feature monosemanticity, checked three ways.

Floors, bottom up (imports point down only; docs/architecture.md, checked by tests/test_import_graph.py):
``files``, ``config``, ``seeding``, ``progress``, ``errors``; ``noise``, ``metrics``, ``stats``, ``plots``,
``probes`` and ``theory`` (NumPy/SciPy/SymPy, no torch); ``toy`` (Elhage et al. toy models, torch on CPU),
``vision`` (CL / NCL / SAE encoders on ImageNet-100, torch + torchvision) and ``lora``; ``probe`` (profile your
own features or encoder); ``claims`` (verdicts, the check runner, verify); ``cli`` (the ``monotheory``
command). Importing this package imports no torch.
"""

from monotheory.errors import ConfigError

__version__ = "0.1.0"
__all__ = ["ConfigError", "__version__"]
