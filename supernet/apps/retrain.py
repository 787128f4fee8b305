"""Retrain a genotype from scratch: ``supernet-retrain genotype=<name or genotype.json>
[data=cifar10|imagenet ...] [key=value ...]``; ``-m`` sweeps seeds, channels, layers."""
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from ..config import register_configs
from ..console import app_console
from ..retrain import run_retrain

register_configs()


@hydra.main(version_base="1.3", config_path="../conf", config_name="retrain")
def main(cfg: DictConfig) -> None:
    with app_console():
        result = run_retrain(OmegaConf.to_object(cfg), Path(HydraConfig.get().runtime.output_dir))
    s = result.summary
    ema = f" (EMA {s['ema_test_acc']:.4f})" if s["ema_test_acc"] is not None else ""
    print(f"\nretrain finished: {result.out_dir.resolve()}\n"
          f"  test accuracy {s['test_acc']:.4f}{ema}, parameters {s['params'] / 1e6:.3f}M, "
          f"multiply-adds {s['multiply_adds'] / 1e6:.1f}M at input {s['input_shape']}")
    for name, path in result.files.items():
        print(f"  {name:10s} {path.resolve()}")


if __name__ == "__main__":
    main()
