"""State dicts move between models.GatedDeltaProduct and fla's fla.layers.gated_deltaproduct.GatedDeltaProduct,
and the two layers compute the same outputs from the same weights (GPU with flash-linear-attention only)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path

import pytest
import torch

from models import GatedDeltaProduct


def _fla_layer_class():
    """fla's layer class, or None. fla.layers' package imports every layer, some of them transformers; the
    stub package below loads only the Gated DeltaProduct module (and the utilities it imports)."""
    if importlib.util.find_spec("fla") is None or importlib.util.find_spec("fla.layers") is None:
        return None
    root = Path(importlib.util.find_spec("fla").origin).parent
    if not (root / "layers" / "gated_deltaproduct.py").exists():
        return None
    if "fla.layers" not in sys.modules:
        stub = types.ModuleType("fla.layers")
        stub.__path__ = [str(root / "layers")]
        sys.modules["fla.layers"] = stub
    return importlib.import_module("fla.layers.gated_deltaproduct").GatedDeltaProduct


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU: fla's layer runs Triton kernels")
@pytest.mark.parametrize("gate, conv, n_h, out_gate", [(True, True, 2, True), (False, True, 3, True),
                                                      (True, False, 1, True), (False, False, 2, False)])  # fmt: skip
def test_ours_and_fla_s_layer_agree_from_the_same_weights(gate, conv, n_h, out_gate):
    """Our state dict loads into fla's layer strictly (same names and shapes) and back; in bf16 the outputs
    of a forward (chunk mode, gradients on, T = 256) agree to 2e-2 relative: each layer's output is within
    about 6e-3 of float64 (bench/results/verify_kernels: o 5.3e-3 ours, 5.9e-3 fla's) and the projections,
    convolution and norms add bf16 roundings (2⁻⁸ ≈ 3.9e-3 each) on both sides."""
    fla_class = _fla_layer_class()
    if fla_class is None:
        pytest.skip("needs flash-linear-attention (fla.layers.gated_deltaproduct)")
    torch.manual_seed(0)
    kw = dict(hidden_size=256, expand_v=1, head_dim=64, num_heads=4, use_forget_gate=gate, use_short_conv=conv,
              use_output_gate=out_gate, allow_neg_eigval=True, num_householder=n_h)  # fmt: skip
    ours = GatedDeltaProduct(**kw, backend="triton").cuda().bfloat16()
    theirs = fla_class(**kw).cuda().bfloat16()
    theirs.load_state_dict(ours.state_dict(), strict=True)
    assert set(ours.state_dict()) == set(theirs.state_dict())
    x = torch.randn(2, 256, 256, device="cuda", dtype=torch.bfloat16)
    mine = ours(x)[0].float()
    fla_out = theirs(x)[0].float()
    assert float((mine - fla_out).norm() / fla_out.norm()) <= 2e-2
    ours.load_state_dict(theirs.state_dict(), strict=True)
