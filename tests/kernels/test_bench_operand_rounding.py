"""bench/operand_rounding.py: the roundings it emulates, its walk against the float64 reference, and its
finding on growing states (one fp16 term for x and u fails section D; two pass where T is integer, and T
needs two as well where it is not), and the kernel's dot_bits=22 tuning keeping that finding."""

import functools

import numpy as np
import pytest
import torch

from bench.operand_rounding import emulated, rounded, two_key_growth
from kernels import delta_product
from proofs_check.studies import growing_inputs, kernel_inputs
from proofs_check.studies import kernels as study

EXACT = dict(S="exact", x="exact", u="exact", T="exact")


def test_roundings_keep_their_bits_and_fp16_keeps_its_range():
    """fp16 (scaled per column) holds 6.5e5 within fp16's unit roundoff 2⁻¹¹ relative to the column's
    scale, two terms within 2⁻²¹; tf32 clears the 13 low bits (truncation: never larger in magnitude)."""
    x = torch.tensor([[6.5e5, 1.0], [-3.3e5 + 0.37, 1e-3], [19.7, -0.25]], dtype=torch.float64)
    one, two = rounded(x, "fp16"), rounded(x, "fp16x2")
    assert torch.isfinite(one).all() and torch.isfinite(two).all()
    peak = x.abs().amax(dim=0)
    assert ((one - x).abs() <= 2.0**-11 * peak).all()
    assert ((two - x).abs() <= 2.0**-21 * peak).all()
    t = rounded(x, "tf32")
    assert (t.abs() <= x.float().double().abs()).all()
    assert ((t.float().view(torch.int32) & 8191) == 0).all()
    fixed = rounded(torch.tensor([[1e8, 3.0]], dtype=torch.float64), "fp16x2_fixed")
    assert torch.allclose(fixed, torch.tensor([[1e8, 3.0]], dtype=torch.float64), rtol=2.0**-21, atol=2.0**-24)
    with pytest.raises(ValueError, match="rounding: expected one of"):
        rounded(x, "fp8")


def test_exact_emulation_is_the_float64_reference():
    """With no rounding the emulated walk is kernels.reference's chunked float64 forward (to 1e-12; the
    emulation rounds o to fp16 and the state to fp32 as the kernel's outputs are)."""
    q, k, v, beta, _ = kernel_inputs(np.random.default_rng(1), 50, 2, 2, 16, "[0, 2]", "none", "float64")
    o, s = emulated(q, k, v, beta, num_householder=2, roundings=EXACT, chunk_size=16)
    ref_o, ref_s = delta_product(q, k, v, beta, num_householder=2, output_final_state=True, backend="reference",
                                 chunk_size=16)  # fmt: skip
    assert torch.allclose(o.double(), ref_o, rtol=2.0**-10, atol=1e-6)  # o rounded to fp16 (u = 2⁻¹¹)
    assert torch.allclose(s.double(), ref_s, rtol=2.0**-23, atol=1e-9)  # the state rounded to fp32 (u = 2⁻²⁴)


def test_growing_states_need_two_fp16_terms_for_x_and_u():
    """Section D's growth at 256 tokens: one scaled fp16 term for every operand is suspect (> 10× the model
    of a kernel with fp16 operands); two terms for x and u are within it."""
    inputs = growing_inputs(256, 2, 1, 16, 19.7)
    steps = 512
    model_s, model_o = study.kernel_models("triton", "float16", steps, 64, "float16",
                                           study.run_contraction(inputs, 2))  # fmt: skip
    verdicts = {}
    for name, roundings in (("one", dict(S="fp16", x="fp16", u="fp16", T="fp16")),
                            ("two", dict(S="fp16", x="fp16x2", u="fp16x2", T="fp16"))):  # fmt: skip
        kernel = functools.partial(emulated, roundings=roundings)
        err_o, err_s = study.kernel_errors(kernel, inputs, dtype="float16", n_h=2, reference_mode="chunk")
        verdicts[name] = study.verdict(err_o, err_s, model_o, model_s)
    assert verdicts["one"]["suspect"]
    assert not verdicts["two"]["suspect"] and verdicts["two"]["over_model"] < 1


def test_growing_states_with_two_keys_need_two_fp16_terms_for_t_too():
    """Two keys make T non-integer: one fp16 term for T leaves the state 2.7e-2 off (> 20 fp16 unit
    roundoffs, 2⁻¹¹ = 4.9e-4); two terms for every operand (S, x, u with the fixed scale) keep it within
    0.2 of fp16's unit roundoff (1e-4; measured 2.5e-6, fp32's level)."""
    inputs = two_key_growth(256, 2, 16)
    errors = {}
    for name, t in (("T one term", "fp16"), ("T two terms", "fp16x2")):
        roundings = dict(S="fp16x2_fixed", x="fp16x2_fixed", u="fp16x2_fixed", T=t)
        kernel = functools.partial(emulated, roundings=roundings)
        errors[name] = study.kernel_errors(kernel, inputs, dtype="float16", n_h=2, reference_mode="chunk")[1]
    assert errors["T one term"] > 20 * 2.0**-11
    assert errors["T two terms"] < 1e-4


def test_the_kernel_s_fp16x2_tuning_keeps_the_emulation_s_finding():
    """The emulation's passing row ("one scale per tile for every operand") as our kernel runs it
    (tuning dot_bits=22, CPU interpreter), on fp16 inputs against the float64 recurrence: a section-D growth
    past fp16's range (values ±39.4, state 8.1·10⁴) keeps o at fp16's output rounding (measured 2.2e-4 ≈
    0.45·2⁻¹¹, as the default's) and the state exact (measured 0), where one fp16 term (dot_bits=16) returns
    NaN; the two-key growth keeps the state at the default's level (measured 2.6e-5, default 2.75e-5; bound
    1e-4), where one term is 1.1e-2 off."""
    from kernels import reference, triton_launch

    def errors(inputs, **tune):
        q, k, v, beta, _ = inputs
        half = [x.half() for x in (q, k, v)]
        want_o, want_s = reference.recurrent(*(x.double() for x in half), beta, None, num_householder=2,
                                             scale=16**-0.5, output_final_state=True)  # fmt: skip
        with triton_launch.tuning(**tune):
            o, s = delta_product(*half, beta.float(), num_householder=2, output_final_state=True, backend="triton")
        return [float((a.double() - b).norm() / b.norm()) for a, b in ((o, want_o), (s, want_s))]

    growth = growing_inputs(512, 2, 1, 16, 39.4)
    err_o, err_s = errors(growth, dot_bits=22)
    assert err_o <= 2 * 2.0**-11 and err_s <= 1e-6
    assert not all(np.isfinite(errors(growth, dot_bits=16)))
    keys = two_key_growth(512, 2, 16)
    assert errors(keys, dot_bits=22)[1] <= 1e-4 < 1e-3 <= errors(keys, dot_bits=16)[1]
