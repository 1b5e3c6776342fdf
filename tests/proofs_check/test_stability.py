"""The error models and the products study."""

from __future__ import annotations

import json

import numpy as np
import pytest

from proofs_check.studies.products import run_products
from theory.error_models import (
    factor_error_bound,
    factor_error_estimate,
    product_error_bound,
    product_error_estimate,
)


def test_models_grow_like_t_and_sqrt_t():
    for name in ("bfloat16", "float16", "float32"):
        assert product_error_bound(name, 400) == pytest.approx(400 * factor_error_bound(name))
        assert product_error_estimate(name, 400) == pytest.approx(20 * factor_error_estimate(name))
        assert factor_error_estimate(name) < factor_error_bound(name)
    assert factor_error_bound("float32", beta_max=2.0) == 11 * 2.0**-24  # (1 + 5β) u


def test_products_study_stays_under_the_bound_and_near_the_estimate():
    rows = run_products(300, dim=6, batch=8, seed=1)
    assert {r["setting"] for r in rows} == {"random", "reflections", "construction"}
    for r in rows:
        assert r["error_max"] <= r["bound"]  # the worst-case model is a bound
        if r["setting"] == "reflections" and r["length"] >= 30:
            # independent random keys: within a factor 10 of the √T estimate (the 'suspect' line)
            assert r["estimate"] / 10 <= r["error_max"] <= 10 * r["estimate"]
        if r["setting"] != "random":
            # X orthogonal, E = X̂ − X: ‖X̂ᵀX̂ − I‖ = ‖XᵀE + EᵀX + EᵀE‖ ≤ 2‖E‖ + ‖E‖²
            assert r["orthogonality"] is not None and r["orthogonality"] <= 2 * r["bound"] + r["bound"] ** 2
    lengths = sorted({r["length"] for r in rows})
    assert lengths[0] == 1 and lengths[-1] == 300 and 100 in lengths


def test_bad_study_arguments_are_refused():
    with pytest.raises(ValueError, match="max_length"):
        run_products(0)
    with pytest.raises(ValueError, match="formats"):
        run_products(5, formats=("float8",))
    from proofs_check.studies.constructions import run_constructions
    from proofs_check.studies.kernels import run_kernels

    with pytest.raises(ValueError, match="max_length"):
        run_constructions(0)
    with pytest.raises(ValueError, match="lengths"):
        run_kernels(lengths=(0,))


def test_cli_writes_json_and_plot(tmp_path):
    from proofs_check.cli import main

    out, png = tmp_path / "p.json", tmp_path / "p.png"
    assert main(["stability", "products", "--max-length", "50", "--json", str(out), "--plot", str(png)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert rows and all(np.isfinite(r["error_max"]) for r in rows)
    assert png.stat().st_size > 10_000


def test_kernels_study_small(monkeypatch):
    """A reduced grid: the op-by-op bf16 reference is far less accurate than our fp32-accumulating kernel,
    every error is finite and below 10× the probabilistic model."""
    import proofs_check.studies.kernels as study

    monkeypatch.setattr(study, "KERNEL_BETAS", {"[0, 2]": (0.0, 2.0)})
    monkeypatch.setattr(study, "KERNEL_GATES", ("with -inf",))
    rows = study.run_kernels(lengths=(8, 16), triton_length=16, dim=8)
    assert {r["backend"] for r in rows} == {"reference", "triton"}
    assert all(np.isfinite(r["o"]) and np.isfinite(r["state"]) and not r["suspect"] for r in rows)
    by = {(r["backend"], r["mode"], r["dtype"], r["length"], r["keys_normalised_in"]): r for r in rows}
    assert (
        by[("reference", "recurrent", "bfloat16", 16, "float64")]["state"]
        > 100 * by[("triton", "chunk", "float32", 16, "float64")]["state"]
    )


def test_constructions_study_first_errors_respect_the_worst_case_safe_length(monkeypatch):
    """The worst-case model guarantees a safe length: a first wrong decode can only come after it."""
    import proofs_check.studies.constructions as study

    monkeypatch.setattr(study, "CONSTRUCTION_PROGRAMS", (("A5 SO(3)", "A5", "orthogonal"), ("parity", "Z2", "scalar")))
    monkeypatch.setattr(study, "CONSTRUCTION_LAYERED", (("Z5 2 layers", "Z5", 2),))
    rows = study.run_constructions(300)
    z5 = [r for r in rows if r["program"] == "Z5 2 layers"]
    # the limiting layer is the planar one: margin sin(π/10) from the exact proof, states on the unit circle
    assert len(z5) == 3 and all(r["layers"] == 2 and r["state_norm"] == 1.0 for r in z5)
    assert all(abs(r["margin"] - 0.309017) < 1e-6 for r in z5)
    a5 = {r["format"]: r for r in rows if r["program"] == "A5 SO(3)"}
    assert a5["bfloat16"]["measured_first_error"] is not None  # a margin of 0.078 on states of norm 9.9
    for r in rows:
        if r["measured_first_error"] is not None:
            assert r["measured_first_error"] + 1 >= r["predicted_worst"]
        assert r["predicted_worst"] < r["predicted_probabilistic"]
    parity = [r for r in rows if r["program"] == "parity"]
    assert all(r["measured_first_error"] is None and r["max_state_error"] == 0 for r in parity)  # ±1 is exact


def test_check_kernel_passes_a_correct_kernel_and_flags_a_wrong_one(monkeypatch):
    """check_kernel on a user kernel: the float32 UT/WY reference sits within its model; a kernel that
    silently clips β to [0, 1] (no negative eigenvalues) is flagged wherever β > 1 occurs, and one that
    returns NaN is flagged everywhere."""
    import functools

    import proofs_check.studies.kernels as study
    from kernels import delta_product

    monkeypatch.setattr(study, "KERNEL_GATES", ("none",))
    good = functools.partial(delta_product, backend="reference", mode="chunk")
    rows = study.check_kernel(good, lengths=(16,), dim=8)
    assert len(rows) == len(study.KERNEL_BETAS) and not any(r["suspect"] for r in rows)

    def clipped(q, k, v, beta, **kw):
        return delta_product(q, k, v, beta.clamp(max=1.0), backend="reference", **kw)

    flagged = {r["betas"]: r["suspect"] for r in study.check_kernel(clipped, lengths=(16,), dim=8)}
    assert flagged == {"[0, 1]": False, "[0, 2]": True, "[1.9, 2]": True}

    def blows_up(q, k, v, beta, **kw):  # what fla returns with −inf gates: NaN outputs
        o, state = delta_product(q, k, v, beta, backend="reference", **kw)
        return o * float("nan"), None if state is None else state * float("nan")

    assert all(r["suspect"] for r in study.check_kernel(blows_up, lengths=(16,), dim=8))
    for errors in ((float("nan"), 1e-7), (1e-7, float("nan")), (float("inf"), 1e-7)):  # o or state alone
        assert study.verdict(*errors, 1e-6, 1e-6)["suspect"]
    assert not study.verdict(1e-6, 1e-6, 1e-6, 1e-6)["suspect"]
    with pytest.raises(ValueError, match="dtype: expected one of"):
        study.check_kernel(good, dtype="float64")
    with pytest.raises(ValueError, match="dtype: expected one of"):
        study.kernel_errors(good, [None] * 5, dtype="int8", n_h=2)


def test_products_study_records_overflow_instead_of_crashing(monkeypatch):
    """Keys of norm 2 with β = 2 expand by |1 − 2·4| = 7 per factor: fp16 overflows (max 65,504) within six
    factors and must be reported as inf with its batch members counted, while float32 stays finite."""
    import proofs_check.studies.products as study

    def expanding(self, steps):
        keys = np.zeros((steps, self.batch, self.dim))
        keys[..., 0] = 2.0
        return keys, np.full((steps, self.batch), 2.0)

    monkeypatch.setattr(study.Factors, "block", expanding)
    monkeypatch.setattr(study, "SETTINGS", ("reflections",))
    rows = study.run_products(10, formats=("float16", "float32"), dim=4, batch=3)
    fp16 = {r["length"]: r for r in rows if r["format"] == "float16"}
    assert fp16[1]["overflowed"] == 0 and fp16[10]["overflowed"] == 3 and fp16[10]["error_max"] == float("inf")
    assert fp16[10]["orthogonality"] == float("inf")
    assert all(r["overflowed"] == 0 and np.isfinite(r["error_max"]) for r in rows if r["format"] == "float32")


def test_the_gpu_kernel_verdict_plan_runs_in_small_form(tmp_path):
    """proofs_check.studies.verdict on the CPU (quick: D = 16 and 8, T = 64, our kernel in the interpreter, fp32):
    gradients within fp32 rounding of float64 autograd (√(sub-steps)·u ≈ 7e-7 for 128 sub-steps; bound 1e-5)
    and within their model, and the growing state of section D exact (its entries are integers, exact in
    fp32), none suspect, while a gradient 30× its model or NaN is; the
    report and the plot are written, and bad arguments are refused before any measurement."""
    from proofs_check.studies import verdict as kernel_verdict

    seen = []
    rows = kernel_verdict.run("cpu", quick=True, sections=("C", "D"), on_row=seen.append)
    assert rows == seen and {r["section"] for r in rows} == {"C", "D"} and not any("error" in r for r in rows)
    for r in rows:
        if r["section"] == "C":
            assert r["worst"] < 1e-5 and {"dq", "dk", "dv", "dbeta"} <= set(r) and not r["suspect"]
            # a gradient of the right order but 30× the model, and a NaN gradient, are flagged
            assert kernel_verdict.judged(dict(r, worst=30 * r["model"]))["suspect"]
            assert kernel_verdict.judged(dict(r, worst=float("nan")))["suspect"]
        else:
            assert r["state"] == 0.0 and not r["suspect"]
    assert "## C: gradients" in kernel_verdict.report_markdown(rows)
    kernel_verdict.plot(rows, tmp_path / "errors.png")
    assert (tmp_path / "errors.png").stat().st_size > 0
    with pytest.raises(ValueError, match="sections: expected some of"):
        kernel_verdict.run("cpu", quick=True, sections=("E",))
    with pytest.raises(ValueError, match="device: expected 'cpu' or 'cuda'"):
        kernel_verdict.run("tpu", quick=True)
    from proofs_check.cli import main

    assert main(["stability", "products", "--report", str(tmp_path / "r.md")]) == 2  # only the GPU verdict has one
    assert not (tmp_path / "r.md").exists()


def test_kernel_models_add_the_per_chunk_rounding_where_a_kernel_makes_one():
    """fp32 accumulation for ours and fla's; one rounding per chunk of 64 sub-steps on top, in the format the
    kernel rounds its chunk products' operands to — the input format for fla and for ours on its 16-bit
    path (bf16 at value blocks of 64), one-pass tf32 for our other bf16 calls, none for our fp16 and fp32
    calls (tf32x3); o adds the dtype's rounding (u/√3). A forgetting run (mean-square contraction c < 1 per
    sub-step) counts only the roundings it remembers: effective_steps of the sub-steps under c and of the
    chunks under c^C."""
    from proofs_check.studies.kernels import kernel_models, kernel_operands
    from theory.error_models import effective_steps, product_error_estimate
    from theory.formats import FORMATS

    fp32 = product_error_estimate("float32", 2048)
    assert kernel_models("reference", "bfloat16", 2048) == (product_error_estimate("bfloat16", 2048),) * 2
    assert kernel_operands("triton", "float16", 16, 16) is None
    assert kernel_operands("triton", "bfloat16", 16, 16) == "tf32"
    assert kernel_operands("triton", "bfloat16", 128, 128) == "bfloat16"
    assert kernel_operands("triton", "float16", 128, 128) is None  # fp16's range: states would overflow
    assert kernel_operands("triton", "bfloat16", 256, 256) == "tf32"  # value blocks of 32 keep fp32 operands
    assert kernel_operands("triton", "bfloat16", 128, 128, "recurrent") is None
    assert kernel_operands("fla", "bfloat16", 128, 128) == "bfloat16"
    assert kernel_operands("reference", "bfloat16", 128, 128) is None
    assert kernel_models("triton", "float16", 2048, operands=None)[0] == fp32
    assert kernel_models("triton", "bfloat16", 2048, operands="tf32")[0] == fp32 + product_error_estimate("tf32", 32)
    state, o = kernel_models("fla", "bfloat16", 2048, chunk_size=64, operands="bfloat16")
    assert state == fp32 + product_error_estimate("bfloat16", 32)
    assert o == state + FORMATS["bfloat16"].unit_roundoff / 3**0.5
    forgetting, _ = kernel_models("fla", "bfloat16", 2048, chunk_size=64, operands="bfloat16", contraction=0.99)
    assert forgetting == product_error_estimate("float32", effective_steps(2048, 0.99)) + product_error_estimate(
        "bfloat16", effective_steps(32, 0.99**64)
    )
    assert forgetting < state / 3  # remembers ~100 of 2048 sub-steps and ~2 of 32 chunks
    with pytest.raises(ValueError, match="backend: expected"):
        kernel_models("cuda", "bfloat16", 2048)
    with pytest.raises(ValueError, match="backend: expected"):
        kernel_operands("cuda", "bfloat16", 128, 128)
    with pytest.raises(ValueError, match="dtype: expected"):
        kernel_operands("triton", "tf32", 128, 128)
    with pytest.raises(ValueError, match="kdim: expected a positive head dimension"):
        kernel_operands("triton", "bfloat16", 0, 128)
    with pytest.raises(ValueError, match="mode: expected 'chunk' or 'recurrent'"):
        kernel_operands("triton", "bfloat16", 128, 128, "parallel")
