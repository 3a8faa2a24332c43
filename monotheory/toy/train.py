"""Training of batched toy models: Adam on all instances at once, one data block per step.

The loss of the whole batch is the *sum* of the per-instance losses, so each instance's gradient is
exactly what it would be alone; Adam is element-wise, so its trajectory is too (see
``tests/toy/test_train.py``). Oracle instances are hand-built and get zero gradient.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor

import torch

from monotheory.config import usable_cores
from monotheory.progress import tqdm_kwargs
from monotheory.toy import fused as _fused
from monotheory.toy.config import TrainConfig  # noqa: F401 (re-exported: monotheory.toy.train.TrainConfig)
from monotheory.toy.model import ToyModel
from monotheory.toy.sampler import FeatureSampler

_CHUNK_ELEMENTS = 1 << 17
_FUSED_CHUNK_ELEMENTS = 1 << 21


@dataclasses.dataclass
class TrainResult:
    """``loss_`` (I,): mean per-instance loss over the last 10 % of the steps; ``history_`` (checkpoints, I)."""

    loss_: torch.Tensor
    history_: torch.Tensor
    seconds: float


def train(model: ToyModel, sampler: FeatureSampler, cfg: TrainConfig, *, progress: bool = False,
          desc: str = "toy training", chunk: int | None = None) -> TrainResult:
    """Train every instance of ``model`` in place on batches from ``sampler`` (shape (I, batch, n)).

    Adam with a cosine learning-rate decay; after each step the constraints are re-applied
    (W ≥ 0 for ``mono-nonneg-w``). ``progress`` shows a tqdm bar. Gradients are computed ``chunk``
    instances at a time; the result does not depend on it. Default: with Numba on a CPU (the fused step of
    :mod:`monotheory.toy.fused`), one chunk per usable core, shared out over that many threads, each of
    which also draws its share of the next step's data; otherwise chunks whose tensors stay in L2, in turn.
    """
    with cpu_threads(1 if model.W.device.type == "cpu" else None):
        return _train(model, sampler, cfg, progress, desc, chunk)


@contextlib.contextmanager
def cpu_threads(n: int | None):
    """Run a block with ``n`` torch intra-op threads (None: leave as is), restoring the setting after.

    The toy layer's tensors are small: on the shared 2-core machine two threads made training 20× and the
    probes 12× slower than one (spin-waiting for a busy core); one thread is never much slower here.
    """
    old = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _workers(device: torch.device, n: int) -> int:
    """Threads that share a step's chunks on a CPU: one per usable core (at most 8, at most ``n``), each
    running torch ops on one intra-op thread. Threads that block on a join do not spin like torch's own
    intra-op pool, which on the shared 2-core machine made training 20× slower under load."""
    return 1 if device.type != "cpu" else max(1, min(usable_cores(), 8, n))


def _compile_here(model: ToyModel, sampler) -> None:
    """One tiny fused step on zeros in the calling thread, before the worker threads and the progress bar exist:
    Numba compiles the kernels here (seconds on a fresh clone; later runs load its cache). A Ctrl-C that lands in
    a compilation then interrupts this thread alone; on a worker thread it could leave Numba's compiler lock held
    while another worker waited for it, and the run hung instead of exiting (seen on a fresh clone). Draws no
    random numbers and changes no weight."""
    with torch.no_grad():
        if isinstance(sampler, FeatureSampler):
            x = sampler.features(torch.zeros(len(sampler.unique), 2, sampler.n), slice(0, 1))
        else:
            x = torch.zeros(1, 2, model.n)
        model.loss_and_grads(x, with_loss=True, instances=slice(0, 1), buffers={})


def _train(model, sampler, cfg, progress, desc, chunk) -> TrainResult:
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    params = [model.W, model.b]
    # torch's fused Adam kernel where it has one for the device (CPU, CUDA): one pass per parameter
    opt = torch.optim.Adam(params, lr=cfg.lr, fused=model.W.device.type in ("cpu", "cuda"))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(cfg.steps, 1))
    mask_w = model.trainable.to(model.W.dtype)
    mask_b = mask_w.view(-1, 1)
    hand_built, nonneg = not bool(model.trainable.all()), bool(model.nonneg_w.any())
    tail = max(1, cfg.steps // 10)
    fused = model.W.device.type == "cpu" and _fused.available()
    workers = _workers(model.W.device, model.instances) if fused else 1
    per_sample = cfg.batch_size * model.n
    if chunk:
        size = chunk
    elif fused:  # few calls per step (each holds the GIL briefly): one chunk per thread, up to a size cap
        size = max(1, min(-(-model.instances // workers), _FUSED_CHUNK_ELEMENTS // per_sample))
    else:  # torch form: many passes per step, so chunks whose (chunk, batch, n) tensors stay in L2
        size = max(1, _CHUNK_ELEMENTS // per_sample)
    chunks = [slice(k, min(k + size, model.instances)) for k in range(0, model.instances, size)]
    workers = min(workers, len(chunks))
    gW, gb = torch.zeros_like(model.W), torch.zeros_like(model.b)
    loss = torch.zeros(model.instances)
    acc = torch.zeros(model.instances)
    history = []
    every = max(1, cfg.steps // 50)
    parts = [chunks[w::workers] for w in range(workers)]
    if fused and cfg.steps:
        _compile_here(model, sampler)
    pool = ThreadPoolExecutor(workers - 1) if workers > 1 else None
    staged = isinstance(sampler, FeatureSampler)  # uniforms per seed, then each chunk's features
    # two uniforms blocks, reused: one in use, one being drawn (each thread draws its share of the seeds'
    # rows for the next step after its chunks: the data does not depend on the model)
    blocks = None
    if staged and cfg.steps:
        first = sampler.uniforms(cfg.batch_size)
        blocks = [first, torch.empty_like(first)]
    buffers = {(sl.start, sl.stop): {} for sl in chunks}  # per chunk: its features and step tensors, reused
    n_rows = len(sampler.unique) if staged else 0
    try:
        for step in tqdm(range(cfg.steps), disable=not progress, desc=desc, leave=False,
                         **tqdm_kwargs()):
            x = blocks[step % 2] if staged else sampler(cfg.batch_size)
            log = step % every == 0 or step >= cfg.steps - tail
            nxt = blocks[(step + 1) % 2] if staged and step + 1 < cfg.steps else None

            def work(w, x=x, log=log, nxt=nxt):  # = autograd of loss(x).sum(), by hand, chunk by chunk
                for sl in parts[w]:
                    buf = buffers[(sl.start, sl.stop)]
                    xs = buf["x"] = sampler.features(x, sl, out=buf.get("x")) if staged else x[sl]
                    lv, gW[sl], gb[sl] = model.loss_and_grads(xs, with_loss=log, instances=sl, buffers=buf)
                    if log:
                        loss[sl] = lv
                if nxt is not None:
                    sampler.fill_uniforms(nxt, range(w, n_rows, workers))
            # disjoint chunks and rows per thread: each writes its own slices of gW, gb, loss and blocks; this
            # thread takes part 0 itself (one thread wake-up less per step)
            jobs = [pool.submit(work, w) for w in range(1, workers)] if pool is not None else []
            work(0)
            for job in jobs:
                job.result()
            if hand_built:  # oracle instances are hand-built: no update (Adam's step is 0 for 0 gradients)
                gW.mul_(mask_w)
                gb.mul_(mask_b)
            model.W.grad, model.b.grad = gW, gb
            opt.step()
            sched.step()
            if nonneg:
                model.project_()
            if log:
                lv = loss.clone()
                if step % every == 0:
                    history.append(lv)
                if step >= cfg.steps - tail:
                    acc += lv
    finally:
        if pool is not None:
            pool.shutdown()
    if cfg.steps == 0:
        with torch.no_grad():
            acc = model.loss(sampler(cfg.batch_size)).cpu()
        tail = 1
    hist = torch.stack(history) if history else acc.view(1, -1)
    return TrainResult(loss_=acc / tail, history_=hist, seconds=time.perf_counter() - t0)


def train_one_by_one(model: ToyModel, sampler_factory, cfg: TrainConfig) -> list[ToyModel]:
    """Baseline for the benchmark and tests: train each instance alone, in a Python loop.

    ``sampler_factory(k)`` returns the sampler of instance k alone. The same arithmetic as :func:`train`, but
    the random draws differ in amount: :func:`train` draws one block per distinct seed and shares it across
    the instances with that seed, this loop draws one per instance (``benchmarks/bench_toy.py`` measures both
    layouts).
    """
    out = []
    for k in range(model.instances):
        single = model.select(k)
        train(single, sampler_factory(k), cfg)
        out.append(single)
    return out
