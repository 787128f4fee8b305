"""Per-device latency lookup tables: what to measure (model), the table format (table),
measuring (profile), expected latency as a differentiable function of the architecture
(predict), loss forms (loss) and hard constraints (constraint)."""
from .loss import LOSS_FORMS, latency_loss
from .model import LatencyModel
from .predict import LatencyPredictor
from .table import LatencyTable, MissingEntryError, TableError, load_table

__all__ = ["LOSS_FORMS", "LatencyModel", "LatencyPredictor", "LatencyTable", "MissingEntryError",
           "TableError", "latency_loss", "load_table"]
