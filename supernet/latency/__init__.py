"""Per-device latency lookup tables, independent of any space: what a network's latency is made
of (parts), the table format (table) and the loss forms (loss).  What a search does with a table
(expected latency, constraints, the hardware target) is the floor above, supernet.hardware."""
from .loss import LOSS_FORMS, latency_loss
from .parts import LatencyParts
from .table import LatencyTable, MissingEntryError, TableError, load_table

__all__ = ["LOSS_FORMS", "LatencyParts", "LatencyTable", "MissingEntryError", "TableError", "latency_loss",
           "load_table"]
