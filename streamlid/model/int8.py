"""int8: the checkpoint's weight storage (int8 matrices with a float16 scale per group of weights) and
dynamically int8-quantised Linear layers for inference on the CPU."""

from __future__ import annotations

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


def dequantize(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    groups = q.float().reshape(q.shape[0], scale.shape[1], -1)
    return (groups * scale.float()[..., None]).reshape(q.shape)


def unpack_int8(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {k: v for k, v in state.items() if not k.endswith(INT8_SCALE)}
    for key in out:
        if key + INT8_SCALE in state:
            out[key] = dequantize(out[key], state[key + INT8_SCALE])
    return out


def load_packed_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """load_state_dict for pack_int8's output, one tensor at a time: the model's float32 weights are
    never held twice (for streamlid-v3 that is 80 MB less peak memory than unpack_int8 + load_state_dict)."""
    target = model.state_dict()
    names = {k for k in state if not k.endswith(INT8_SCALE)}
    missing, unexpected = sorted(target.keys() - names), sorted(names - target.keys())
    if missing or unexpected:
        raise RuntimeError(f"missing keys {missing[:3]}, unexpected keys {unexpected[:3]}")
    with torch.no_grad():
        for key in names:
            value = state[key]
            if key + INT8_SCALE in state:
                value = dequantize(value, state[key + INT8_SCALE])
            if value.shape != target[key].shape:
                raise RuntimeError(
                    f"size mismatch for {key}: {tuple(value.shape)} in the file, {tuple(target[key].shape)} in the model"
                )
            target[key].copy_(value)


def quantized_int8(model: nn.Module, keep_float: tuple[str, ...] = ()) -> nn.Module:
    """A copy with dynamically int8-quantised Linear layers (one weight scale per output channel), but
    for those named in `keep_float`, for the CPU (torch.ao's eager route: deprecated in torch 2.13 but
    working; its warnings are silenced here)."""
    import warnings

    from torch.ao.quantization import per_channel_dynamic_qconfig

    layers = {
        name: per_channel_dynamic_qconfig
        for name, m in model.named_modules()
        if isinstance(m, nn.Linear) and name not in keep_float
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, layers, dtype=torch.qint8)
