"""Linear probes: multinomial logistic regression on frozen features, scikit-learn style, in torch.

Conventions
-----------
- Objective (both classes): mean cross-entropy over the training samples + (weight_decay / 2)·‖W‖², the bias
  unpenalised. ``weight_decay`` is therefore PyTorch's L2 weight decay on W, and scikit-learn's
  ``LogisticRegression(C=c)`` is the same problem with ``weight_decay = 1 / (c · N)``.
- W is (C, d) with one row per class (the over-complete multinomial parametrisation, also for C = 2); weights
  and bias start at zero, so a fit is deterministic given ``random_state`` (which only drives shuffling and the
  validation split).
- Inputs may be numpy arrays or torch tensors on any device; ``device=None`` fits on X's device (CPU for numpy),
  ``"auto"`` picks CUDA when available. Learned attributes (``coef_``, ``intercept_``, ``classes_`` …) are numpy.

Modules: :mod:`~monotheory.probes.linear` (:class:`LinearProbe`), :mod:`~monotheory.probes.batched`
(:class:`BatchedLinearProbe`), :mod:`~monotheory.probes.inputs` (validation and defaults both share),
:mod:`~monotheory.probes.grid` (:func:`probe_grid`: one probe per training label-noise rate, scored on every test
set). The batched L-BFGS is :mod:`monotheory.lbfgs`.
"""

from monotheory.lbfgs import batched_lbfgs, softmax_lbfgs
from monotheory.probes.batched import BatchedLinearProbe
from monotheory.probes.grid import probe_grid
from monotheory.probes.inputs import BATCHED_SOLVERS, DEFAULT_LR, SOLVERS, NotFittedError
from monotheory.probes.linear import LinearProbe

__all__ = ["BATCHED_SOLVERS", "DEFAULT_LR", "SOLVERS", "BatchedLinearProbe", "LinearProbe", "NotFittedError",
           "batched_lbfgs", "probe_grid", "softmax_lbfgs"]
