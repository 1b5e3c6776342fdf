"""The claim report (proofs_check.report, deltaproof check --report) and the committed docs/claims.md."""

from __future__ import annotations

import re
from pathlib import Path

from proofs_check import Evidence, claims
from proofs_check.cli import main
from proofs_check.registry import Claim, Result
from proofs_check.report import report_html, report_markdown, section_of

DOCS = Path(__file__).parents[2] / "docs" / "claims.md"


def _result(claim_id: str, status: str, evidence: str, tier: str = "fast", reason: str | None = None) -> Result:
    claim_ = Claim(claim_id, f"statement of {claim_id}", "Somebody 2025, Thm 9 [U]", "numeric", tier,
                   lambda: Evidence(True, ""))  # fmt: skip
    return Result(claim_, status, evidence, {}, 0.5, reason)


RESULTS = [
    _result("grazzi.thm9", "passed", "all 12 cases <exact>"),
    _result("deltaproduct.thm9", "failed", "FAILED: the bound. worst 3 > 2", tier="full"),
    _result("kernels.thing", "passed", "max error 1e-16"),
    _result("grazzi.cited", "skipped", "", reason="needs a 1.3B-parameter training run"),
]


def test_markdown_report_orders_by_paper_and_says_how_to_reproduce():
    text = report_markdown(RESULTS, "deltaproof check --full", 12.0)
    heads = [line for line in text.splitlines() if line.startswith("## ")]
    assert heads[0].startswith("## Grazzi") and heads[1].startswith("## Siems") and "toolkit" in heads[2]
    assert heads[-1] == "## Registered but not checked in this run"
    assert "### `deltaproduct.thm9` — failed" in text and "- evidence: FAILED: the bound. worst 3 > 2" in text
    assert "`deltaproof check --full --only 'deltaproduct.thm9'`" in text  # a full-tier claim's command
    assert "`deltaproof check --only 'grazzi.thm9'`" in text
    assert "- `grazzi.cited` (Somebody 2025, Thm 9 [U]): needs a 1.3B-parameter training run" in text
    assert "2 passed, 1 failed, 1 skipped" in text and "[RECON]" in text and "*trained*" in text
    assert [section_of(r.claim.id) for r in RESULTS] == ["grazzi", "deltaproduct", "toolkit", "grazzi"]


def test_html_report_is_self_contained_and_escaped():
    page = report_html(RESULTS, "deltaproof check --full", 12.0)
    assert page.startswith("<!doctype html>") and "data:image/png;base64," in page
    assert "&lt;exact&gt;" in page and "<exact>" not in page
    assert not re.search(r"(src|href)=['\"]https?:", page)  # nothing fetched from elsewhere


def test_cli_writes_a_report_and_refuses_bad_paths(tmp_path, capsys):
    out = tmp_path / "r.md"
    assert main(["check", "--only", "grazzi.c2.*", "--report", str(out)]) == 0
    assert "### `grazzi.c2.two_reflections` — passed" in out.read_text()
    assert main(["check", "--only", "grazzi.c2.*", "--report", str(tmp_path / "r.txt")]) == 2
    assert "--report: expected a file name ending in .md or .html" in capsys.readouterr().err
    assert main(["check", "--list", "--report", str(out)]) == 2
    assert "--report: a report needs the claims run; drop --list" in capsys.readouterr().err


def test_committed_report_lists_every_registered_claim():
    """docs/claims.md is the full tier's report (`deltaproof check --full --report docs/claims.md`): its claims are
    exactly the registry's, in registry order, so it cannot fall out of step unnoticed."""
    committed = re.findall(r"^### `([^`]+)`|^- `([^`]+)` \(", DOCS.read_text(), flags=re.M)
    listed = [a or b for a, b in committed]
    registered = [c.id for c in claims()]
    assert sorted(listed) == sorted(registered)
    ran = [i for i in listed if i in registered]
    order = {cid: n for n, cid in enumerate(registered)}
    by_section = {}
    for cid in ran:
        by_section.setdefault(section_of(cid), []).append(order[cid])
    assert all(v == sorted(v) for v in by_section.values())
