"""Was this sample cold? Labels from the best evidence available, and where they came from.

Evidence, best first: ``platform`` (a Lambda REPORT line with Init/Restore Duration),
``instrumented`` (X-Coldbench-* headers or JSON body fields), ``instance`` (an instance id new
to the run), ``heuristic`` (a latency-only model, for black-box endpoints) and ``none``
(``unknown``: never a guess presented as fact).
"""

from __future__ import annotations

from coldbench.label.evidence import (
    Evidence,
    ReportLine,
    find_report_line,
    label_sample_evidence,
    parse_report_line,
)
from coldbench.label.frame import LabelResult, build_labels, label_frame, scenario_types_from_suite
from coldbench.label.truth import annotate_outcome

__all__ = [
    "Evidence",
    "LabelResult",
    "ReportLine",
    "annotate_outcome",
    "build_labels",
    "find_report_line",
    "label_frame",
    "label_sample_evidence",
    "parse_report_line",
    "scenario_types_from_suite",
]
