"""ONNX Runtime for frozen image backbones on a CPU.

On a CPU ONNX Runtime ran the EfficientNet-Lite backbones 1.7-2.3x faster than channels-last
PyTorch, with outputs equal to 1e-5 (benchmarks/bench_inference.py). It is an optional extra
(``pip install "automl[onnx]"``, part of ``all``). PyTorch stays the reference: a backbone is
exported once per process (backbone, adapted weights, resolution) into memory, and runs under
ONNX Runtime only after its outputs on a probe batch match PyTorch's within ``TOLERANCE``;
otherwise, or without the packages, or with ``AUTOML_ONNX=0``, PyTorch runs it.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import tempfile
import warnings
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import numpy as np

from automl.components.frozen import ModelCache
from automl.logger import log

TOLERANCE = 1e-4  # max |difference| from PyTorch's embeddings on the probe batch
SWITCH = "AUTOML_ONNX"  # "0": always PyTorch
PROBE_BATCH = 2
# Exporting costs 1-4 s per backbone and process and saves ~3 ms per 128-px image at one
# thread (bench_inference.py: 147 against 100 images/s, decoding included); `automl predict`
# on 8 images took 3-4 s longer with the export than without. Below this many items a
# backbone not yet exported runs in PyTorch, which finishes first.
MIN_ITEMS = 1000

Forward = Callable[[np.ndarray], np.ndarray]
_SESSIONS = ModelCache(size=2)  # like the PyTorch models they mirror


def enabled(device: str) -> bool:
    """Whether frozen image embeddings on ``device`` go through ONNX Runtime."""
    return device == "cpu" and os.environ.get(SWITCH, "1") != "0" and _installed()


@functools.cache
def _installed() -> bool:
    """Looked up once per process: ``enabled`` runs at every transform of every fold."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


def ort_forward(
    model: Any, key: Hashable, resolution: int, threads: int, items: int | None = None
) -> Forward | None:
    """``model``'s forward pass on float32 NCHW batches under ONNX Runtime, or None when it
    cannot be exported, does not match PyTorch, or (not exported yet) ``items`` are too few
    to pay for the export: the caller keeps PyTorch."""
    full = (key, resolution, threads)
    if full not in _SESSIONS and items is not None and items < MIN_ITEMS:
        return None
    return _SESSIONS.get(full, lambda: _build(model, key, resolution, threads))


def _build(model: Any, key: Hashable, resolution: int, threads: int) -> Forward | None:
    import torch

    probe = torch.randn(PROBE_BATCH, 3, resolution, resolution, generator=torch.Generator().manual_seed(0))
    try:
        import onnxruntime as ort

        with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's notes on tracing and opsets
            path = Path(tmp) / "backbone.onnx"
            torch.onnx.export(
                model,
                (probe[:1],),
                str(path),
                input_names=["x"],
                output_names=["y"],
                dynamic_axes={"x": {0: "n"}},
                opset_version=17,
                dynamo=False,
            )
            graph = path.read_bytes()
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only
        session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    except Exception as e:  # an operator the exporter or the runtime does not support
        log.debug("ONNX Runtime not used for %s: %s: %s", key, type(e).__name__, e)
        return None

    def forward(x: np.ndarray) -> np.ndarray:
        return session.run(None, {"x": np.ascontiguousarray(x, dtype=np.float32)})[0]

    with torch.inference_mode():
        reference = model(probe.contiguous(memory_format=torch.channels_last)).numpy()
    diff = float(np.abs(forward(probe.numpy()) - reference).max())
    if not diff <= TOLERANCE:
        log.warning(
            "ONNX Runtime's embeddings for %s differ from PyTorch's by %.1e (more than %.0e); using PyTorch.",
            key,
            diff,
            TOLERANCE,
        )
        return None
    log.debug("ONNX Runtime runs %s at %d px (max |diff| from PyTorch %.1e)", key, resolution, diff)
    return forward
