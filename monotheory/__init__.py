"""monotheory: the robustness gains of feature monosemanticity, checked three ways.

Layers (dependencies point down only): ``monotheory.theory`` (NumPy/SciPy/SymPy, no torch),
``monotheory.toy`` (Elhage et al. toy models, torch on CPU) and ``monotheory.vision``
(CL / NCL / SAE encoders on ImageNet-100, torch + torchvision). Shared: ``noise``, ``probes``,
``metrics``; ``report`` and ``plots`` for outputs. Importing this package imports no torch.
"""

from monotheory.errors import ConfigError

__version__ = "0.1.0"
__all__ = ["ConfigError", "__version__"]
