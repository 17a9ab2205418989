"""int8: the checkpoint's weight storage (int8 matrices with a float16 scale per group of weights) and
dynamically int8-quantised Linear layers for inference on the CPU."""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

import torch
from torch import nn

INT8_SCALE = ".int8_scale"
INT8_GROUP = 64


def pack_int8(
    state: dict[str, torch.Tensor], keep: tuple[str, ...] = (), min_size: int = 4096
) -> dict[str, torch.Tensor]:
    """Matrices (2+ dimensions, at least `min_size` values) as int8 with one float16 scale per group of
    64 consecutive input weights of a row (a whole row where 64 does not divide it); matrices whose names
    start with one of `keep` as float16; everything else unchanged. Weight-only: load_packed_state (or
    unpack_int8) turns them back into float32."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        value = value.detach().cpu().contiguous()
        quantize = value.is_floating_point() and value.dim() >= 2 and value.numel() >= min_size
        if quantize and not key.startswith(keep):
            rows = value.float().reshape(value.shape[0], -1)
            group = INT8_GROUP if rows.shape[1] % INT8_GROUP == 0 else rows.shape[1]
            groups = rows.reshape(rows.shape[0], -1, group)
            scale = (groups.abs().amax(dim=2) / 127.0).clamp(min=1e-8).half()
            q = torch.round(groups / scale.float()[..., None]).clamp(-127, 127)
            out[key] = q.to(torch.int8).reshape(value.shape)
            out[key + INT8_SCALE] = scale
        elif quantize:
            out[key] = value.half()
        else:
            out[key] = value
    return out


def dequantize(q: torch.Tensor, scale: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """pack_int8's matrix back in float32, into `out` (contiguous, q's shape) when given: no temporaries."""
    out = q.float() if out is None else out.copy_(q)
    out.view(q.shape[0], scale.shape[1], -1).mul_(scale.float()[..., None])
    return out


def unpack_int8(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {k: v for k, v in state.items() if not k.endswith(INT8_SCALE)}
    for key in out:
        if key + INT8_SCALE in state:
            out[key] = dequantize(out[key], state[key + INT8_SCALE])
    return out


class Tensors(Protocol):
    """Named tensors taken out one at a time: a dict, or format.TensorFile (read from the file as taken)."""

    def __iter__(self) -> Iterator[str]: ...

    def __contains__(self, name: object) -> bool: ...

    def pop(self, name: str) -> torch.Tensor: ...


def load_packed_state(model: nn.Module, state: Tensors, int8_layers: tuple[str, ...] = ()) -> None:
    """load_state_dict for pack_int8's output, one tensor at a time, emptying `state` as it goes: the
    model's float32 weights are never held twice, nor the file's beside them (for streamlid-v3 that was 80
    MB less peak memory than unpack_int8 + load_state_dict). The Linear layers named in `int8_layers` are
    quantised (quantize_linear) as soon as their weights are in, so that a model loaded for int8 is never
    resident in float32 (with uninitialised weights from `without_init`)."""
    target = model.state_dict()
    names = {k for k in state if not k.endswith(INT8_SCALE)}
    missing, unexpected = sorted(target.keys() - names), sorted(names - target.keys())
    if missing or unexpected:
        raise RuntimeError(f"missing keys {missing[:3]}, unexpected keys {unexpected[:3]}")
    with torch.no_grad():
        for layer in int8_layers:
            for key in (f"{layer}.weight", f"{layer}.bias"):
                if key in names:
                    names.remove(key)
                    _load(target, key, state)
            quantize_linear(model, layer)
        for key in names:
            _load(target, key, state)


def _load(target: dict[str, torch.Tensor], key: str, state: Tensors) -> None:
    """One tensor from `state` into the model's (taken out of both: a weight int8 replaces must be free)."""
    value, into = state.pop(key), target.pop(key)
    if value.shape != into.shape:
        raise RuntimeError(
            f"size mismatch for {key}: {tuple(value.shape)} in the file, {tuple(into.shape)} in the model"
        )
    if key + INT8_SCALE in state:
        dequantize(value, state.pop(key + INT8_SCALE), out=into)
    else:
        into.copy_(value)


@contextmanager
def without_init() -> Iterator[None]:
    """Build a model whose every weight is about to be loaded: Linear and Conv1d layers skip their random
    init, so their memory stays untouched (not resident) until the weights arrive."""
    classes = (nn.Linear, nn.Conv1d)
    saved = [cls.reset_parameters for cls in classes]
    for cls in classes:
        cls.reset_parameters = _no_init
    try:
        yield
    finally:
        for cls, reset in zip(classes, saved, strict=True):
            cls.reset_parameters = reset


def _no_init(module: nn.Module) -> None:
    pass


def int8_layer_names(model: nn.Module, keep_float: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The Linear layers quantized_int8 quantises: all but those named in `keep_float`."""
    return tuple(n for n, m in model.named_modules() if type(m) is nn.Linear and n not in keep_float)


def quantize_linear(model: nn.Module, name: str) -> None:
    """Swap the Linear layer `name` for torch.ao's dynamic int8 Linear (one weight scale per output
    channel, as quantize_dynamic makes it; deprecated in torch 2.13 but working, its warnings silenced),
    and hand the float32 weights back to the system."""
    import warnings

    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear
    from torch.ao.quantization import per_channel_dynamic_qconfig

    parent, _, leaf = name.rpartition(".")
    owner = model.get_submodule(parent)
    layer = getattr(owner, leaf)
    layer.qconfig = per_channel_dynamic_qconfig
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        setattr(owner, leaf, DynamicLinear.from_float(layer))
    del layer
    release_freed_memory()


def quantized_int8(model: nn.Module, keep_float: tuple[str, ...] = (), inplace: bool = False) -> nn.Module:
    """The model (a copy, or itself with `inplace`) with dynamically int8-quantised Linear layers
    (quantize_linear), but for those named in `keep_float`, for the CPU; one layer at a time, so that in
    place the model is never resident in both forms. A model already quantised is left as it is."""
    if not inplace:
        model = copy.deepcopy(model)
    for name in int8_layer_names(model, keep_float):
        quantize_linear(model, name)
    return model


def release_freed_memory() -> None:
    """Hand memory freed inside the process back to the system (glibc keeps freed heap memory, and after
    large frees it serves even large tensors from the heap: without this, the float32 weights that int8
    replaced stay resident, ~160 MB for streamlid-v4). Nothing where the C library is not glibc."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim():
    import ctypes

    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
