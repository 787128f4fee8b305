"""Does the latency table predict real latency on this device?  Re-profiles nothing that the
table holds; measures K random children of the space end to end and prints Kendall tau,
Spearman rho and MAPE before and after calibration, and how long the table took to profile.

    python -m benchmarks.latency_accuracy [hydra overrides, e.g. hardware=cpu_2core children=50]
"""
import sys
import tempfile

from benchmarks.harness import compose_config
from supernet.apps.profile_latency import run_profile
from supernet.apps.validate_latency import run_validation
from supernet.config import register_configs


def main() -> None:
    register_configs()
    profile = compose_config("profile", sys.argv[1:] + ["progress=false"])
    validate = compose_config("validate", sys.argv[1:] + ["progress=false"])
    table, _ = run_profile(profile)         # measures only what the table lacks
    with tempfile.TemporaryDirectory() as tmp:
        result = run_validation(validate, tmp)
    hw_cfg = validate.hardware
    print(f"{hw_cfg.name}: {table.meta['processor']}, {table.meta['threads']} thread(s), batch {hw_cfg.batch_size}, "
          f"{hw_cfg.dtype}; {len(result['rows'])} children; table of {len(table.entries)} entries profiled in "
          f"{table.meta['profile_seconds']} s")
    for label, s in result["stats"].items():
        print(f"  {label:6s} calibration: Kendall tau {s['kendall_tau']:.3f}  Spearman rho {s['spearman_rho']:.3f}  "
              f"MAPE {s['mape_percent']:.1f}%   (goal: tau >= 0.8, MAPE <= 10%)")


if __name__ == "__main__":
    main()
