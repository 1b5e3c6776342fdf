"""The claim report: the results of ``deltaproof check`` as a document a reader can cite, in Markdown or in
self-contained HTML (``deltaproof check --report PATH.md|PATH.html``).

Per paper, every registered claim in registry order (the papers' order of statements): its statement, source
with provenance tag, method, status, evidence, and the command that reproduces it; then the findings of this
toolkit beyond the papers, and last what is registered but was not checked in this run, with the reason. A
legend explains every provenance tag, method and status. The HTML embeds one figure (claims per section by
status) as a data URI, so the file stands alone.
"""

from __future__ import annotations

import base64
import html
import io
from collections import Counter

from proofs_check.registry import METHODS, Result

__all__ = ["SECTIONS", "TAGS", "section_of", "report_markdown", "report_html"]

SECTIONS = (
    ("grazzi", "Grazzi et al. 2025, Unlocking State-Tracking in Linear RNNs Through Negative Eigenvalues (ICLR)"),
    ("deltaproduct", "Siems et al. 2025, DeltaProduct (NeurIPS), and the DeltaNet update it extends"),
    ("toolkit", "Findings of this toolkit beyond the papers (kernels, finite precision, automata)"),
)
TAGS = {
    "[U]": "checked against the full text of Grazzi et al. 2025",
    "[DP-sec]": "a summary of a section of the DeltaProduct paper",
    "[DP-quote]": "a sentence quoted from the DeltaProduct paper",
    "[DP-code]": "the DeltaProduct paper's code (fla's kernels and layer)",
    "[RECON]": "a construction rebuilt here to meet a theorem's hypotheses and conclusion; it may differ from "
    "the paper's proof",
    "[✔]": "a result or check of this toolkit",
    "[later]": "a later paper, known from a third-party summary; its statement is cited, not checked",
}
METHOD_TEXT = {
    "symbolic": "exact algebra in sympy, for symbols or all parameters at once",
    "exhaustive": "every case of a finite set, exactly",
    "numeric": "float64 (or the named format) over stated samples, against a stated tolerance",
    "kernel": "run through the kernels (Triton in the interpreter on a CPU) against float64 or exact values",
    "trained": "trained models (trained here, or committed checkpoints) analysed by models.analyze",
    "cited": "a result of the papers recorded for completeness, not checkable here (the reason is given)",
}
STATUS_TEXT = {
    "passed": "every sub-check held",
    "failed": "a sub-check failed; the evidence names it",
    "error": "the check raised; the evidence is the error",
    "skipped": "not run here; the reason is given",
}


def section_of(claim_id: str) -> str:
    """``grazzi``, ``deltaproduct`` (DeltaProduct and DeltaNet ids) or ``toolkit`` (kernels, stability, automata)."""
    head = claim_id.split(".", 1)[0]
    return "grazzi" if head == "grazzi" else "deltaproduct" if head in ("deltaproduct", "deltanet") else "toolkit"


def _command(result: Result) -> str:
    return f"deltaproof check{' --full' if result.claim.tier == 'full' else ''} --only '{result.claim.id}'"


def _ordered(results: list[Result]) -> list[tuple[str, str, list[Result]]]:
    """(key, title, results) per section, registry order within each; skipped claims leave for the last part."""
    return [(key, title, [r for r in results if section_of(r.claim.id) == key and r.status != "skipped"])
            for key, title in SECTIONS]  # fmt: skip


def _counts(results: list[Result]) -> str:
    counts = Counter(r.status for r in results)
    return ", ".join(f"{counts[s]} {s}" for s in STATUS_TEXT if counts[s])


def report_markdown(results: list[Result], command: str, seconds: float) -> str:
    """The report as Markdown: headings per section and claim, no tables (evidence may hold any character)."""
    lines = [
        "# The claims of the DeltaProduct and negative-eigenvalue papers, checked",
        "",
        f"Produced by `{command}` in {seconds:.0f} s: {len(results)} claims, {_counts(results)}. Each claim below "
        "gives its statement, source, method, status, the evidence its check built from what it computed, and the "
        "command that reproduces it.",
        "",
        "**Provenance tags.** " + "; ".join(f"{tag} {text}" for tag, text in TAGS.items()) + ".",
        "",
        "**Methods.** " + "; ".join(f"*{m}*: {METHOD_TEXT[m]}" for m in METHODS) + ".",
        "",
        "**Statuses.** " + "; ".join(f"*{s}*: {t}" for s, t in STATUS_TEXT.items()) + ".",
    ]
    for _, title, part in _ordered(results):
        lines += ["", f"## {title}", ""]
        if not part:
            lines.append("No claim of this section ran.")
        for r in part:
            lines += [f"### `{r.claim.id}` — {r.status}", "", r.claim.statement, "", f"- source: {r.claim.source}",
                      f"- method: {r.claim.method} ({r.claim.tier} tier, {r.seconds:.1f} s)",
                      f"- evidence: {r.evidence}", f"- reproduce: `{_command(r)}`", ""]  # fmt: skip
    skipped = [r for r in results if r.status == "skipped"]
    lines += ["", "## Registered but not checked in this run", ""]
    lines += [f"- `{r.claim.id}` ({r.claim.source}): {r.reason}" for r in skipped] or ["None: every claim ran."]
    return "\n".join(lines).rstrip() + "\n"


def _figure(results: list[Result]) -> str:
    """Claims per section by status, as a base64 PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"passed": "#2a9d4b", "failed": "#d62728", "error": "#8c2d04", "skipped": "#999999"}
    fig, ax = plt.subplots(figsize=(7, 2.2))
    labels = [key for key, _ in SECTIONS]
    left = [0] * len(labels)
    for status, colour in colours.items():
        widths = [sum(r.status == status and section_of(r.claim.id) == key for r in results) for key in labels]
        ax.barh(labels, widths, left=left, color=colour, label=status)
        left = [a + b for a, b in zip(left, widths)]
    ax.set(xlabel="claims")
    ax.legend(fontsize=7, ncol=4, loc="lower right")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def report_html(results: list[Result], command: str, seconds: float) -> str:
    """The report as one self-contained HTML file (styles and the figure inline; every text escaped)."""
    e = html.escape
    style = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;line-height:1.45}"
             "code{background:#f3f3f3;padding:0 .2rem}.passed{color:#2a9d4b}.failed,.error{color:#d62728}"
             ".skipped{color:#777}section.claim{border-left:3px solid #ddd;padding-left:.8rem}")  # fmt: skip
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>deltaproof claims</title><style>{style}</style>"
           "</head><body>", "<h1>The claims of the DeltaProduct and negative-eigenvalue papers, checked</h1>",
           f"<p>Produced by <code>{e(command)}</code> in {seconds:.0f} s: {len(results)} claims, "
           f"{e(_counts(results))}.</p>", f"<img alt='claims per section by status' "
           f"src='data:image/png;base64,{_figure(results)}'>", "<h2>Legend</h2><ul>"]  # fmt: skip
    out += [f"<li><b>{e(tag)}</b> {e(text)}</li>" for tag, text in TAGS.items()]
    out += [f"<li><i>{m}</i>: {e(METHOD_TEXT[m])}</li>" for m in METHODS]
    out += [f"<li><span class='{s}'>{s}</span>: {e(t)}</li>" for s, t in STATUS_TEXT.items()] + ["</ul>"]
    for _, title, part in _ordered(results):
        out.append(f"<h2>{e(title)}</h2>")
        for r in part:
            out.append(f"<section class='claim'><h3><code>{e(r.claim.id)}</code> — <span class='{r.status}'>"
                       f"{r.status}</span></h3><p>{e(r.claim.statement)}</p><ul><li>source: {e(r.claim.source)}</li>"
                       f"<li>method: {r.claim.method} ({r.claim.tier} tier, {r.seconds:.1f} s)</li>"
                       f"<li>evidence: {e(r.evidence)}</li><li>reproduce: <code>{e(_command(r))}</code></li></ul>"
                       "</section>")  # fmt: skip
    out.append("<h2>Registered but not checked in this run</h2><ul>")
    skipped = [r for r in results if r.status == "skipped"]
    out += [f"<li><code>{e(r.claim.id)}</code> ({e(r.claim.source)}): {e(r.reason or '')}</li>" for r in skipped]
    out.append("</ul></body></html>" if skipped else "<li>None: every claim ran.</li></ul></body></html>")
    return "\n".join(out) + "\n"
