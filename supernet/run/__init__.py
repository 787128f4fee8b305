"""A run folder, everything search and retrain keep in it: the folder itself and its guard
(folder), its checkpoints (checkpoint) and its per-epoch records (metrics)."""
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .folder import (
                     CONFIG_FILE,
                     STARTED,
                     NonFiniteLossError,
                     OtherRunError,
                     RunBusyError,
                     RunFolder,
                     changed_settings,
                     flat_keys,
                     restore_rng,
)
from .metrics import format_row, write_csv

__all__ = ["CONFIG_FILE", "STARTED", "CheckpointError", "NonFiniteLossError", "OtherRunError", "RunBusyError",
           "RunFolder", "changed_settings", "flat_keys", "format_row", "load_checkpoint", "restore_rng",
           "save_checkpoint", "write_csv"]
