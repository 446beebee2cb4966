"""The run folder: its results schema, file names and ledger of finished cells.

Everything that writes or reads a run (the grid, fine-tuning, the report) goes through here,
so a column, a metric or a file name is spelled once.
"""

from .folder import write_results
from .ledger import Ledger, cell_id
from .schema import METRIC_NAMES, RESULT_COLUMNS, make_row, metric_label

__all__ = ["Ledger", "METRIC_NAMES", "RESULT_COLUMNS", "cell_id", "make_row", "metric_label", "write_results"]
