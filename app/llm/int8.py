"""Int8 weights for writing tokens, full-precision weights for reading the prompt.

Writing one token multiplies a single row by every weight matrix: on a CPU that is bound by
how fast the weights stream from memory, so int8 copies (a quarter of float32, half of
bfloat16) write tokens faster. Reading a prompt multiplies hundreds of rows at once, where
bfloat16 on the CPU's matrix units is far quicker than int8. Each linear layer keeps both and
picks by the number of rows. Weights are rounded per output row to 127 steps of that row's
largest magnitude.

The int8 product is fbgemm's (`torch.ops.quantized`, which also rounds the row of activations
to 7 bits on each call): 2× the speed of torch's weight-only int8 kernel for the 0.5B model's
shapes here, for about a point of SQuAD exact match (`sourced eval`). Where torch has no
fbgemm, the weight-only kernel is used.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

# Up to this many rows (tokens) at once, the int8 copy is used.
DECODE_ROWS = 8


class Int8DecodeLinear(nn.Module):
    def __init__(self, linear: nn.Linear, fbgemm: bool = True, only: bool = False):
        super().__init__()
        weight = linear.weight.detach().float()
        scale = weight.abs().amax(dim=1).clamp(min=1e-8) / 127
        self.dtype = linear.weight.dtype
        self.bias = linear.bias
        self.packed = _fbgemm_weights(weight, scale, linear.bias) if fbgemm else None
        # `only`: the int8 copy serves long inputs too, and the full weights are let go once
        # loaded (reading a prompt is then int8 as well).
        self.weight = None if only and self.packed is not None else linear.weight
        if self.packed is None:
            quantized = torch.round(weight / scale[:, None]).to(torch.int8)
            self.register_buffer("weight_int8", quantized.contiguous(), persistent=False)
            self.register_buffer("scale", scale.to(linear.weight.dtype), persistent=False)

    @property
    def kernel(self) -> str:
        return "fbgemm" if self.packed is not None else "weight-only"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.numel() // x.shape[-1]
        if self.weight is not None and (rows > DECODE_ROWS or x.dtype != self.dtype):
            return nn.functional.linear(x, self.weight, self.bias)
        flat = x.reshape(rows, x.shape[-1])
        if self.packed is not None:
            # Activations rounded to 7 bits: on CPUs without VNNI (AVX2 only) fbgemm's 8-bit
            # product saturates its 16-bit sums, off by 15–20% where this is off by 1.6%.
            out = torch.ops.quantized.linear_dynamic(flat.float(), self.packed, True)
            out = out.to(x.dtype)
        else:
            out = torch._weight_int8pack_mm(flat.contiguous(), self.weight_int8, self.scale)
            if self.bias is not None:
                out = out + self.bias
        return out.reshape(*x.shape[:-1], out.shape[-1])


def _fbgemm_weights(weight: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None):
    """The (float32) weights rounded per row and packed for fbgemm, or None where it is
    missing."""
    if torch.backends.quantized.engine not in ("x86", "fbgemm"):
        return None
    try:
        with warnings.catch_warnings():
            # Quantized tensors are deprecated in favour of torchao; torch is pinned, and the
            # weight-only kernel takes over in a build without them.
            warnings.simplefilter("ignore")
            zero = torch.zeros(scale.shape[0], dtype=torch.long)
            rounded = torch.quantize_per_channel(weight, scale, zero, 0, torch.qint8)
            float_bias = None if bias is None else bias.detach().float()
            return torch.ops.quantized.linear_prepack(rounded, float_bias)
    except (AttributeError, NotImplementedError, RuntimeError):
        return None


def quantize_for_decoding(model: nn.Module, fbgemm: bool = True, only: bool = False) -> int:
    """Give every linear layer an int8 copy for token-by-token work; returns how many.
    `fbgemm=False` keeps to the weight-only kernel; `only` replaces the full weights."""
    count = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear):
                setattr(parent, name, Int8DecodeLinear(child, fbgemm, only))
                count += 1
    return count
