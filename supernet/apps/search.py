"""Run a search: ``supernet-search [data=... space=... strategy=... key=value]``."""
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from ..config import register_configs
from ..console import app_console
from ..search import run_search

register_configs()


@hydra.main(version_base="1.3", config_path="../conf", config_name="search")
def main(cfg: DictConfig) -> None:
    with app_console():
        result = run_search(OmegaConf.to_object(cfg), Path(HydraConfig.get().runtime.output_dir))
    if result.files:  # under torchrun only rank 0 writes (and reports)
        print(f"\nsearch finished: {result.out_dir.resolve()}")
        for name, path in result.files.items():
            print(f"  {name:9s} {path.resolve()}")


if __name__ == "__main__":
    main()
