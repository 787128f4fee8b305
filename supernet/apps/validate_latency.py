"""Does the table predict real latency?  ``supernet-validate hardware=<name>
[children=50] [genotypes=[darts_v2,path/to/genotype.json]]`` measures K random children (and the
given genotypes) end to end on this device and compares with the table's prediction."""
import datetime
import json
import logging
import statistics
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from ..config import register_configs
from ..console import app_console
from ..files import write_text_atomic
from ..genotypes import resolve_genotype
from ..hardware.predict import LatencyPredictor
from ..hardware.profile import NOISY, random_genotypes, spanning_genotypes, validate
from ..latency.table import load_table
from ..plots import plot_latency_validation
from .profile_latency import measuring_setup

log = logging.getLogger(__name__)
register_configs()


def run_validation(cfg, out_dir) -> dict:
    """K random children, children spanning the latency range (where derives for other targets
    land) and any named genotypes: predicted vs measured under the table's own conditions, with
    a picture.  A validation on a quiet machine is recorded in the table
    (``meta.validation[<network configuration>]``): how the table was checked travels with it."""
    model, bench, space, info = measuring_setup(cfg)
    hw_cfg = cfg.hardware
    table = load_table(hw_cfg.table, hw_cfg.name, hw_cfg.batch_size, hw_cfg.dtype, hw_cfg.allow_mismatch)
    bench.threads = table.meta["threads"]
    predictor = LatencyPredictor(space, model, table)
    genotypes = {f"random{i}": g for i, g in enumerate(random_genotypes(space, cfg.children, cfg.seed))}
    genotypes.update((f"spanning{i}", g) for i, g in enumerate(spanning_genotypes(predictor, cfg.span_children,
                                                                                    cfg.seed)))
    for spec in cfg.genotypes:
        genotype = resolve_genotype(spec)
        try:
            space.choice_of(genotype)
        except ValueError as e:
            raise ValueError(f"genotype {spec!r} is not an architecture of the configured space ({e}); "
                             "choose the space it belongs to (space=..., space.nodes=..., space.ops=[...])") from None
        genotypes[str(spec)] = genotype
    result = validate(predictor, genotypes, info, bench, cfg.progress)
    result["spread_percent"] = round(100 * statistics.median(bench.spreads), 1)
    if result["spread_percent"] > 100 * NOISY:
        log.warning(f"the repeats of a measurement spread by {result['spread_percent']:.0f}% (median): this "
                    "machine is too busy for this validation to say anything about the table (not recorded in "
                    "it); run it on a quiet machine")
    elif "imported" not in table.meta:
        after = result["stats"]["after"]
        table.meta.setdefault("validation", {})[model.key] = {
            "date": datetime.date.today().isoformat(), "children": len(genotypes), "spanning": cfg.span_children,
            "mape_percent": round(after["mape_percent"], 1), "max_error_percent": round(after["max_error_percent"], 1),
            "kendall_tau": round(after["kendall_tau"], 3),
            "spread_percent": result["spread_percent"], "seed": cfg.seed}
        table.save()
    out_dir = Path(out_dir)
    write_text_atomic(out_dir / "latency_validation.json", json.dumps(result, indent=2) + "\n")
    result["plot"] = plot_latency_validation(result["rows"], out_dir / "latency_validation.png",
                                             f"{hw_cfg.name}: {len(genotypes)} children")
    return result


@hydra.main(version_base="1.3", config_path="../conf", config_name="validate")
def main(cfg: DictConfig) -> None:
    with app_console():
        result = run_validation(OmegaConf.to_object(cfg), Path(HydraConfig.get().runtime.output_dir))
    for label, s in result["stats"].items():
        print(f"{label:6s} calibration: Kendall tau {s['kendall_tau']:.3f}, Spearman rho {s['spearman_rho']:.3f}, "
              f"MAPE {s['mape_percent']:.1f}%, largest error {s['max_error_percent']:.1f}%")
    print(f"spread of repeats (median): {result['spread_percent']:.1f}%")
    print(f"scatter plot: {result['plot'].resolve()}")


if __name__ == "__main__":
    main()
