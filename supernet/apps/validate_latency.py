"""Does the table predict real latency?  ``supernet-validate hardware=<name>
[children=50] [genotypes=[darts_v2,path/to/genotype.json]]`` measures K random children (and the
given genotypes) end to end on this device and compares with the table's prediction."""
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from ..config import register_configs
from ..console import app_console
from ..latency.profile import run_validation

register_configs()


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
