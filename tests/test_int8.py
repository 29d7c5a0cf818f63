"""Int8 copies for writing tokens: close to the bfloat16 layer for a few rows, the bfloat16
layer itself for many, with fbgemm's kernel or, where it is missing, the weight-only one."""

import pytest
import torch
from torch import nn

from app.llm.int8 import DECODE_ROWS, Int8DecodeLinear, quantize_for_decoding


def _layer(bias: bool) -> nn.Linear:
    torch.manual_seed(0)
    return nn.Linear(256, 384, bias=bias).to(torch.bfloat16)


@pytest.mark.parametrize("engine", ["x86", "qnnpack"])
@pytest.mark.parametrize("bias", [True, False])
def test_a_few_rows_match_the_bfloat16_layer(monkeypatch, engine, bias):
    monkeypatch.setattr(torch.backends.quantized, "engine", engine, raising=False)
    linear = _layer(bias)
    int8 = Int8DecodeLinear(linear)
    assert int8.kernel == ("fbgemm" if engine == "x86" else "weight-only")
    x = torch.randn(1, 3, 256, dtype=torch.bfloat16)
    exact, rounded = linear(x).float(), int8(x).float()
    assert rounded.shape == exact.shape
    error = (rounded - exact).norm() / exact.norm()
    assert error < 0.03


def test_many_rows_use_the_bfloat16_weights():
    linear = _layer(True)
    x = torch.randn(DECODE_ROWS + 1, 256, dtype=torch.bfloat16)
    assert torch.equal(Int8DecodeLinear(linear)(x), linear(x))


def test_every_linear_layer_is_given_a_copy():
    model = nn.Sequential(_layer(True), nn.ReLU(), nn.Sequential(nn.Linear(384, 8)))
    assert quantize_for_decoding(model) == 2
    assert isinstance(model[2][0], Int8DecodeLinear)


def test_int8_only_reads_many_rows_in_int8_and_lets_the_full_weights_go(monkeypatch):
    monkeypatch.setattr(torch.backends.quantized, "engine", "x86", raising=False)
    linear = _layer(True)
    only = Int8DecodeLinear(linear, only=True)
    assert only.weight is None and only.kernel == "fbgemm"
    x = torch.randn(DECODE_ROWS * 40, 256, dtype=torch.bfloat16)
    exact, rounded = linear(x).float(), only(x).float()
    assert rounded.dtype == exact.dtype and rounded.shape == exact.shape
    assert (rounded - exact).norm() / exact.norm() < 0.03


def test_int8_only_keeps_the_full_weights_where_there_is_no_fbgemm(monkeypatch):
    monkeypatch.setattr(torch.backends.quantized, "engine", "qnnpack", raising=False)
    only = Int8DecodeLinear(_layer(True), only=True)
    assert only.kernel == "weight-only" and only.weight is not None
