"""Derive the genotype of a finished or interrupted search:
``supernet-derive run=<search output folder or checkpoint.pt> [out=<folder>] [target_ms=<ms>]``
(``target_ms``: the most probable architecture within that latency on the run's table)."""
import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from ..config import register_configs
from ..console import app_console
from ..derive import derive_run

register_configs()


@hydra.main(version_base="1.3", config_path="../conf", config_name="derive")
def main(cfg: DictConfig) -> None:
    if OmegaConf.is_missing(cfg, "run"):
        sys.exit("derive needs the search to derive from: supernet-derive run=<search output "
                 "folder or its checkpoint.pt> [out=<folder>]")
    with app_console():
        genotype, files = derive_run(cfg.run, cfg.out, cfg.target_ms)
    print(genotype.summary())
    for name, path in files.items():
        print(f"  {name:9s} {path.resolve()}")


if __name__ == "__main__":
    main()
