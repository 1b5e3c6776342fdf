"""The claim registry, the runner and the `deltaproof` CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from proofs_check import Evidence, Skip, claims, run_claim, select
from proofs_check.cli import main
from proofs_check.registry import Claim, claim

REQUIRED = {
    "grazzi.gh.spectrum",
    "deltanet.ogd_step",
    "deltaproduct.substeps",
    "grazzi.prop1.1",
    "grazzi.prop1.3.real",
    "grazzi.prop1.3.k3_counterexample",
    "grazzi.prop1.3.modulus",
    "deltaproduct.nh2_nonreal",
    "grazzi.c2.two_reflections",
    "grazzi.c1.2d_identities",
    "grazzi.prop1.2.permutations",
    "grazzi.prop1.2.contraction",
    "grazzi.prop1.2.orthogonal",
    "grazzi.thm4.zero_matrix",
    "kernels.ut_identity",
    "kernels.ut_bounds",
    "deltaproduct.interleaved_kernel",
    "deltaproduct.so3_groups",
    "grazzi.thm3",
    "deltaproduct.thm4",
    "grazzi.thm6",
    "deltaproduct.thm3_dihedral",
    "deltaproduct.position_parity_insufficient",
    "deltaproduct.thm1ii_iii",
    "stability.state_growth",
    "stability.normalized_key_expansion",
    "grazzi.lemma1",
    "kernels.ut_conditioning",
    "automata.partial_injection_one_layer",
    "grazzi.thm4.regular",
    "deltaproduct.thm2.regular",
    "automata.timing_gap",
    "grazzi.thm1.eventually_constant",
    "grazzi.thm2.period_divides_2L",
    "grazzi.lemma1.jordan",
    "bounds.one_layer_nh",
    "bounds.s5_later_work",
    "deltaproduct.pspec.identical_keys",
    "deltaproduct.pspec.orthonormal_keys",
    "grazzi.thm3.group_actions",
    "deltaproduct.beta_parameterisation",
    "grazzi.extended_range_doubles_b",
}


def test_every_required_claim_is_registered_with_a_source_and_method():
    registered = {c.id: c for c in claims()}
    assert REQUIRED <= set(registered)
    for c in registered.values():
        assert c.statement and c.source and c.method in ("symbolic", "exhaustive", "numeric", "kernel", "trained",
                                                         "cited")  # fmt: skip
        assert "[" in c.source, f"{c.id}: the source must carry a provenance tag"
    cited = [c for c in registered.values() if c.method == "cited"]
    assert {c.id for c in cited} == {"grazzi.cited.chomsky", "grazzi.cited.language_modelling",
                                     "deltaproduct.cited.language_modelling"}  # fmt: skip
    for c in cited:  # recorded, never checked: full tier, skipped with the reason
        result = run_claim(c)
        assert c.tier == "full" and result.status == "skipped" and "1.3B-parameter training run" in result.reason


@pytest.mark.parametrize("claim_id", sorted(REQUIRED))
def test_fast_claims_pass_with_evidence(claim_id):
    (c,) = [c for c in claims() if c.id == claim_id]
    result = run_claim(c)
    assert result.status == "passed", result.evidence
    assert len(result.evidence) > 40


def _fake(check) -> Claim:
    return Claim("test.fake", "s", "src [U]", "numeric", "fast", check)


def test_runner_statuses():
    assert run_claim(_fake(lambda: Evidence(False, "counterexample"))).status == "failed"
    crashed = run_claim(_fake(lambda: 1 / 0))
    assert crashed.status == "error" and "ZeroDivisionError" in crashed.evidence

    def skip():
        raise Skip("needs a CUDA GPU")

    skipped = run_claim(_fake(skip))
    assert skipped.status == "skipped" and skipped.as_json()["reason"] == "needs a CUDA GPU"
    assert run_claim(_fake(lambda: True)).status == "error"  # a bare True is not evidence


def test_json_has_string_keys_whatever_the_evidence_data():
    result = run_claim(_fake(lambda: Evidence(True, "ok", {1: {(2, 3): "x"}})))
    assert json.loads(json.dumps(result.as_json(), default=str))["data"] == {"1": {"(2, 3)": "x"}}


def test_registry_refuses_duplicates_and_bad_fields():
    with pytest.raises(ValueError, match="registered twice"):
        claim(id="grazzi.prop1.1", statement="s", source="s", method="numeric")(lambda: None)
    with pytest.raises(ValueError, match="method: expected one of"):
        claim(id="x.y", statement="s", source="s", method="guess")
    with pytest.raises(ValueError, match="tier: expected one of"):
        claim(id="x.y", statement="s", source="s", method="numeric", tier="slow")


def test_select_filters_by_tier_and_glob():
    assert all(c.tier == "fast" for c in select())
    assert {c.id for c in select(only="grazzi.prop1.3.*")} == {
        "grazzi.prop1.3.real",
        "grazzi.prop1.3.k3_counterexample",
        "grazzi.prop1.3.modulus",
    }
    assert len(select(full=True)) > len(select())
    assert {c.tier for c in select(full=True)} == {"fast", "full"}


def test_cli_json_and_exit_status(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["check", "--only", "grazzi.thm4.*", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [r["id"] for r in rows] == ["grazzi.thm4.zero_matrix"]
    assert {"id", "source", "method", "tier", "status", "evidence"} <= set(rows[0]) and rows[0]["status"] == "passed"
    assert "1 passed" in capsys.readouterr().out
    assert main(["check", "--only", "no.such.*"]) == 2
    assert main(["check", "--list", "--full"]) == 0


def test_cli_exits_non_zero_when_a_claim_fails(monkeypatch, tmp_path):
    import proofs_check.cli as cli

    monkeypatch.setattr(cli, "select", lambda **_: [_fake(lambda: Evidence(False, "no"))])
    assert cli.main(["check", "--json", str(tmp_path / "f.json")]) == 1
    assert json.loads((tmp_path / "f.json").read_text())[0]["status"] == "failed"


@pytest.mark.parametrize("prefix", [["check"], []])
def test_module_entry_point_runs(prefix):
    done = subprocess.run(
        [sys.executable, "-m", "proofs_check", *prefix, "--only", "grazzi.c2.*"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "grazzi.c2.two_reflections" in done.stdout and "1 passed" in done.stdout


def test_trained_claims_train_and_judge_from_the_analysis(tmp_path, monkeypatch):
    """grazzi.trained.parity trains two parity models on the CPU (about 20 s) and passes with its measured
    accuracies in the evidence (β ∈ [0, 2] measured 0.996 at 64, β ∈ [0, 1] 0.545; it fails, naming the
    sub-check, when β = 2σ is replaced by σ: tried). The S3 claim analyses the committed H200 checkpoints on the
    CPU (n_h = 2 measured 0.997 at 256 with non-real eigenvalues on every token of one head, n_h = 1 0.367); given
    the n_h = 1 model in place of the n_h = 2 one it fails and names what failed."""
    import shutil

    from proofs_check.claims import trained

    by_id = {c.id: c for c in claims() if c.method == "trained"}
    assert set(by_id) == {
        "grazzi.trained.parity",
        "deltaproduct.trained.s3_rotations",
        "deltaproduct.trained.s3_not_a_representation",
    }
    assert all(c.tier == "full" for c in by_id.values())
    parity = run_claim(by_id["grazzi.trained.parity"])
    assert parity.status == "passed", parity.evidence
    assert parity.data["beta02"]["accuracy"]["64"] >= 0.95 and parity.data["beta01"]["nonreal"] == 0.0
    s3 = run_claim(by_id["deltaproduct.trained.s3_rotations"])
    assert s3.status == "passed", s3.evidence
    assert s3.data["nh2"]["accuracy"] >= 0.95 and s3.data["nh2"]["nonreal"] > 0 and s3.data["nh1"]["nonreal"] == 0
    for name in ("S3-nh1-s0", "S3-nh2-s0"):
        shutil.copytree(trained.CHECKPOINTS / "S3-nh1-s0", tmp_path / name)
    monkeypatch.setattr(trained, "CHECKPOINTS", tmp_path)
    swapped = run_claim(by_id["deltaproduct.trained.s3_rotations"])
    assert swapped.status == "failed" and "n_h = 2 reaches ≥ 0.95 at 256" in swapped.evidence


def test_the_representation_finding_fails_on_the_exact_construction(tmp_path, monkeypatch):
    """deltaproduct.trained.s3_not_a_representation passes on the committed n_h = 2 model (least relation error
    over heads 0.076, least spectral match 0.87) and fails, naming the group-law sub-check, when the checkpoint
    is the exact S3 construction saved as a run (models.from_program: a representation to 10⁻⁵)."""
    import json

    import torch
    from safetensors.torch import save_file

    from models import from_program
    from proofs_check.claims import trained
    from theory.programs import compile_group

    claim_ = next(c for c in claims() if c.id == "deltaproduct.trained.s3_not_a_representation")
    found = run_claim(claim_)
    assert found.status == "passed", found.evidence
    assert found.data["relation_error"] >= 0.05 and found.data["orthogonality"] < 1e-3
    construction = from_program(compile_group("S3"), dtype=torch.float64, backend="reference")
    run = tmp_path / "S3-nh2-s0"
    run.mkdir()
    committed = json.loads((trained.CHECKPOINTS / "S3-nh2-s0" / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({"model": construction.config.to_dict(), "train": committed["train"]}))
    save_file({k: v.contiguous() for k, v in construction.state_dict().items()}, run / "model.safetensors")
    monkeypatch.setattr(trained, "CHECKPOINTS", tmp_path)
    exact = run_claim(claim_)
    assert exact.status == "failed" and "every head's relation error ≥ 0.05" in exact.evidence


@pytest.mark.parametrize("claim_id, module", [("grazzi.prop1.1", "householder"), ("grazzi.prop1.3.real", "spectrum"),
                                              ("grazzi.prop1.3.modulus", "spectrum")])  # fmt: skip
def test_sampled_upper_bounds_catch_a_wrong_batch(claim_id, module, monkeypatch):
    """Proposition 1's bounds still hold with every β halved, so a claim that only sampled gh_product_batch passed
    with that bug in it (the audit); each now checks its samples against theory.gh_product and fails, naming it."""
    import importlib

    from theory.sampling import gh_product_batch

    claim_ = next(c for c in claims() if c.id == claim_id)
    assert run_claim(claim_).status == "passed"
    monkeypatch.setattr(importlib.import_module(f"proofs_check.claims.{module}"), "gh_product_batch",
                        lambda keys, betas: gh_product_batch(keys, betas / 2))  # fmt: skip
    halved = run_claim(claim_)
    assert halved.status == "failed" and "FAILED: " in halved.evidence and "gh_product" in halved.evidence


def _mutants():
    """(claim, module of the claim, name patched there, the bug, text its evidence must then contain): one
    deliberate bug per claim that used to print a fixed summary (the audit of issue 22)."""
    import dataclasses

    import sympy as sp

    import theory

    def halved_factor(k, beta, check_unit=True):
        return theory.gh_factor(k, beta / 2, check_unit=check_unit)

    def no_write(h, k, v, beta, check_unit=True):  # (I − βkkᵀ)H without the βkvᵀ the delta rule adds
        return theory.ogd_step(h, k, 0 * v, beta, check_unit=check_unit)

    def swapped_map(keys, values, betas, gamma, check_unit=True):  # A's factors in the wrong order
        a, b = theory.token_map(keys[::-1, :], values[::-1, :], list(betas)[::-1], gamma, check_unit=check_unit)
        return a, b

    def reversed_product(keys, betas, check_unit=True):
        return theory.gh_product(keys[::-1, :], list(betas)[::-1], check_unit=check_unit)

    def wrong_discriminant(c, b1, b2):
        return theory.nh2_discriminant(c, b1, b2) + b1 * b2 * c**2 * (1 - c**2)

    def near_projections(d):
        f = theory.diagonal_factors(d)
        return dataclasses.replace(f, betas=tuple(b + sp.Rational(1, 10) for b in f.betas))

    def halved_ut(keys, betas, check_unit=False):  # exact halves of exact betas, float halves of floats
        half = [b / 2 if isinstance(b, float) or hasattr(b, "dtype") else sp.Rational(1, 2) * b for b in betas]
        return theory.ut_transform(keys, half, check_unit=check_unit)

    def one_bit_short(x, fmt):  # round to one significand bit fewer than the format has
        from fractions import Fraction

        from mpmath.libmp import from_rational, round_nearest, to_float

        from theory.formats import format_of

        x = Fraction(x)
        return to_float(from_rational(x.numerator, x.denominator, format_of(fmt).precision - 1, round_nearest))

    def planar_sign_error(a, b, m):  # H(α)H(γ) = R(γ − α): the sign of the rotation flipped
        kind, j = theory.groups.compose_planar(a, b, m)
        return (kind, (-j) % m) if a[0] == b[0] == "H" else (kind, j)

    return [
        ("grazzi.gh.spectrum", "householder", "gh_factor", halved_factor, "FAILED: Gk − (1−β)k"),
        ("deltaproduct.position_parity_insufficient", "constructions", "compose_planar", planar_sign_error,
         "FAILED: theory.compose_planar's labels"),  # fmt: skip
        ("deltanet.ogd_step", "householder", "ogd_step", no_write, "FAILED: theory.ogd_step"),
        ("deltaproduct.substeps", "householder", "token_map", swapped_map, "FAILED: theory.token_map's A"),
        ("grazzi.c2.two_reflections", "spectrum", "gh_product", reversed_product, "FAILED: G(v₁,2)·G(v₂,2) = R(θ)"),
        ("deltaproduct.nh2_nonreal", "spectrum", "nh2_discriminant", wrong_discriminant,
         "FAILED: theory.nh2_discriminant"),  # fmt: skip
        ("grazzi.thm4.zero_matrix", "factorization", "diagonal_factors", near_projections, "β = 1 each"),
        ("kernels.ut_bounds", "householder", "ut_transform", halved_ut, "FAILED: T_ij + β_i"),
        ("grazzi.lemma1", "stability", "cast_exact", one_bit_short, "FAILED: cast_exact agrees with torch's casts"),
    ]


@pytest.mark.parametrize("case", range(9))
def test_evidence_names_the_sub_check_a_deliberate_bug_breaks(case, monkeypatch):
    """Each of these claims passes as shipped and, with one bug planted in the library function it checks,
    fails with evidence that begins FAILED and names the broken sub-check (it used to print the passing text)."""
    import importlib

    claim_id, module, name, bug, expected = _mutants()[case]
    claim_ = next(c for c in claims() if c.id == claim_id)
    assert run_claim(claim_).status == "passed"
    monkeypatch.setattr(importlib.import_module(f"proofs_check.claims.{module}"), name, bug)
    broken = run_claim(claim_)
    assert broken.status == "failed" and broken.evidence.startswith("FAILED: ") and expected in broken.evidence


def test_claims_run_in_worker_processes_as_they_run_here():
    """Two worker processes give each claim the status and evidence it gets here, in the order asked, though the
    first claim (the slowest) finishes last there; bad jobs and unregistered claims are refused by name."""
    from proofs_check import run_claims

    chosen = [c for c in claims() if c.id in ("grazzi.c1.2d_identities", "grazzi.prop1.1", "grazzi.prop1.3.real",
                                               "grazzi.c2.two_reflections")]  # fmt: skip
    chosen.sort(key=lambda c: c.id != "grazzi.c1.2d_identities")
    here = run_claims(chosen)
    finished = []
    there = run_claims(chosen, jobs=2, on_result=lambda r: finished.append(r.claim.id))
    assert [(r.claim.id, r.status, r.evidence) for r in there] == [(r.claim.id, r.status, r.evidence) for r in here]
    assert all(r.status == "passed" for r in there) and sorted(finished) == sorted(c.id for c in chosen)
    with pytest.raises(ValueError, match="jobs: expected a positive integer, got 0"):
        run_claims(chosen, jobs=0)
    with pytest.raises(ValueError, match="registered claims only"):
        run_claims([_fake(lambda: Evidence(True, "x")), chosen[0]], jobs=2)


def test_cli_jobs_is_checked_and_used(tmp_path, capsys):
    assert main(["check", "--only", "grazzi.prop1.*", "--jobs", "2", "--json", str(tmp_path / "r.json")]) == 0
    rows = json.loads((tmp_path / "r.json").read_text())
    assert [r["id"] for r in rows] == [c.id for c in select(only="grazzi.prop1.*")]
    assert all(r["status"] == "passed" for r in rows)
    capsys.readouterr()
    assert main(["check", "--jobs", "0"]) == 2
    assert "--jobs" in capsys.readouterr().err
