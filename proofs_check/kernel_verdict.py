"""Former name of :mod:`proofs_check.studies.verdict` (ours and fla's kernels at GPU scale), kept so that code
written against it still imports."""

from proofs_check.studies.verdict import SECTIONS, judged, plot, report_markdown, run

__all__ = ["SECTIONS", "run", "judged", "report_markdown", "plot"]
