"""The search report: a self-contained HTML page per search (``automl report --run DIR``)."""

from automl.report.html import REPORT_FILE, write_report
from automl.report.inputs import save_labels

__all__ = ["REPORT_FILE", "save_labels", "write_report"]
