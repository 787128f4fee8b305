"""Measure a device's latency table: ``supernet-profile hardware=<name>``.

Run it on the device you deploy to.  Incremental (measures only what the table lacks) and
interrupt-safe (every entry is saved as it is measured)."""
import hydra
from omegaconf import DictConfig, OmegaConf

from ..config import register_configs
from ..console import app_console
from ..latency.profile import run_profile

register_configs()


@hydra.main(version_base="1.3", config_path="../conf", config_name="profile")
def main(cfg: DictConfig) -> None:
    with app_console():
        table, added = run_profile(OmegaConf.to_object(cfg))
    print(f"{table.path}: measured {added} new entries, {len(table.entries)} in all (ms); profiled in "
          f"{table.meta['profile_seconds']} s in all")
    for key, cal in table.calibration.items():
        print(f"  calibration {key}: {cal.get('scale', 1.0):.3f} x sum of ops + {cal['per_op_ms']:.4f} ms per op + "
              f"{cal['constant_ms']:.3f} ms")


if __name__ == "__main__":
    main()
