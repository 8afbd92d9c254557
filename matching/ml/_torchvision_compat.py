"""Make ``import torchvision`` work when its C++ ops cannot load (CUDA torchvision, CPU torch).

PyPI only has CUDA builds of torchvision; with the CPU build of torch its ``_C`` extension fails
to load and torchvision 0.28's import then crashes registering fake kernels for
``torchvision::nms``/``qnms``. We only need torchvision's pure-Python transforms (through timm
and open_clip), so when that happens we define schema-only stubs for the two ops and import
again. Calling the stubs raises; nothing in this library calls them. A torchvision whose ops
load normally is imported untouched.
"""

from __future__ import annotations

import sys

import torch

_STUBS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
_library: torch.library.Library | None = None


def ensure_torchvision() -> None:
    """Import torchvision, stubbing the missing ops if its C++ extension is unusable."""
    global _library
    try:
        import torchvision
    except RuntimeError as exc:
        if "torchvision::" not in str(exc) or _library is not None:
            raise
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
        _library = torch.library.Library("torchvision", "DEF")  # keep a reference: ops live on
        for schema in _STUBS:
            _library.define(schema)
        import torchvision  # noqa: F401


ensure_torchvision()
