"""Int8 weights for writing tokens, full-precision weights for reading the prompt.

Writing one token multiplies a single row by every weight matrix: on a CPU that is bound by
how fast the weights stream from memory, so int8 copies (a quarter of float32, half of
bfloat16) write tokens faster (1.25× bfloat16 in bench/local_llm.py here). Reading a prompt
multiplies hundreds of rows at once, where bfloat16 on the CPU's matrix units is far quicker
than int8's kernel. Each linear layer keeps both and picks by the number of rows. Weights are
rounded per output row to 127 steps of that row's largest magnitude.
"""

from __future__ import annotations

import torch
from torch import nn

# Up to this many rows (tokens) at once, the int8 copy is used.
DECODE_ROWS = 8


class Int8DecodeLinear(nn.Module):
    def __init__(self, linear: nn.Linear):
        super().__init__()
        weight = linear.weight.detach()
        scale = weight.float().abs().amax(dim=1).clamp(min=1e-8) / 127
        quantized = torch.round(weight.float() / scale[:, None]).to(torch.int8)
        self.register_buffer("weight_int8", quantized.contiguous(), persistent=False)
        self.register_buffer("scale", scale.to(weight.dtype), persistent=False)
        self.weight = linear.weight  # shared, not copied: used for long inputs
        self.bias = linear.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.numel() // x.shape[-1]
        if rows > DECODE_ROWS or x.dtype != self.scale.dtype:
            return nn.functional.linear(x, self.weight, self.bias)
        flat = x.reshape(rows, x.shape[-1]).contiguous()
        out = torch._weight_int8pack_mm(flat, self.weight_int8, self.scale)
        out = out.reshape(*x.shape[:-1], out.shape[-1])
        return out if self.bias is None else out + self.bias


def quantize_for_decoding(model: nn.Module) -> int:
    """Give every linear layer an int8 copy for token-by-token work; returns how many."""
    count = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear):
                setattr(parent, name, Int8DecodeLinear(child))
                count += 1
    return count
