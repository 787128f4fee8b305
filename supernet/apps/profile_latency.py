"""Measure a device's latency table: ``supernet-profile hardware=<name>``.

Run it on the device you deploy to.  Incremental (measures only what the table lacks) and
interrupt-safe (every entry is saved as it is measured)."""
import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from ..config import register_configs
from ..console import app_console
from ..data import build_dataset
from ..hardware.predict import LatencyPredictor
from ..hardware.profile import Bench, calibrate, measure_entries, random_genotypes, spanning_genotypes
from ..latency.table import LatencyTable, TableError, add_session, load_table, measurement_meta, table_path
from ..spaces import build_space

register_configs()


def measuring_setup(cfg):
    """The model, bench and space of a profile/validate config (shapes come from the data set)."""
    hw_cfg = cfg.hardware
    if not hw_cfg.table:
        raise ValueError(f"hardware {hw_cfg.name!r} has no table path: choose a target with one "
                         "(hardware=cpu_2core) or set hardware.table=latency_tables/<name>.yaml")
    try:
        torch.device(hw_cfg.device)
    except RuntimeError:
        raise ValueError(f"hardware {hw_cfg.name!r} measures on {hw_cfg.device!r}, which is not a torch device on this "
                         "machine: its table is imported (supernet-import-latency), not measured here") from None
    _, info = build_dataset(cfg.data, train=True, augment=False)
    bench = Bench(hw_cfg.device, hw_cfg.dtype, hw_cfg.batch_size, cfg.warmup, cfg.repeat,
                  hw_cfg.threads or torch.get_num_threads())
    space = build_space(cfg.space)
    return space.latency_model(info), bench, space, info


def run_profile(cfg) -> tuple[LatencyTable, int]:
    """Measure what the table of ``cfg.hardware`` lacks for ``cfg.space``, then (re)fit the
    calibration of this space configuration on uniform children and as many spanning its
    latency range when anything was added, it has none, or ``cfg.recalibrate``.  Returns the
    table and how many entries were measured."""
    model, bench, space, info = measuring_setup(cfg)
    hw_cfg = cfg.hardware
    meta = measurement_meta(hw_cfg.device, bench.threads, hw_cfg.batch_size, hw_cfg.dtype, cfg.warmup, cfg.repeat)
    if table_path(hw_cfg.table).exists():
        table = load_table(hw_cfg.table, hw_cfg.name, hw_cfg.batch_size, hw_cfg.dtype)
        if (table.meta["device"], table.meta["threads"]) != (meta["device"], meta["threads"]):
            raise TableError(f"{hw_cfg.table} was measured on {table.meta['device']} with {table.meta['threads']} "
                             f"threads, this run uses {meta['device']} with {meta['threads']}: measure into "
                             "another table (hardware.table=...)")
        if table.missing(model.signatures) or model.key not in table.calibration or cfg.recalibrate:
            add_session(table.meta, meta)      # this session measures: the table says when and how
    else:
        table = LatencyTable(meta, path=hw_cfg.table, hardware=hw_cfg.name)
    added = measure_entries(model, table, bench, cfg.progress)
    if added or model.key not in table.calibration or cfg.recalibrate:
        predictor = LatencyPredictor(space, model, table)
        half = cfg.calibration_children // 2
        calibrate(predictor, random_genotypes(space, half, cfg.seed)
                  + spanning_genotypes(predictor, cfg.calibration_children - half, cfg.seed), info, bench, cfg.progress)
    return table, added


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
