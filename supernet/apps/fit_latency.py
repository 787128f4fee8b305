"""Fit a device's latency table from end-to-end measurements of whole networks:
``supernet-fit-latency ../shared/nasbench201/latency.csv --column pixel3_ms
--hardware pixel3 --device "Google Pixel 3 (HW-NAS-Bench)"`` fits the table's entries on a seeded
80% of the rows, prints Kendall tau, MAPE and the largest error on the other 20%, and writes
``latency_tables/<hardware>.yaml`` (its meta: the source and that validation); add
``supernet/conf/hardware/<hardware>.yaml`` pointing at it (see supernet/conf/hardware/pixel3.yaml).  The space is
the family's default network (NAS-Bench-201: C=16, N=5, as the benchmark measured it).  (Not a
hydra app: it takes a file, not a config.)"""
import argparse

from ..data import DataInfo
from ..hardware.fit import fit_table, read_measurements
from ..spaces import build_space
from ..spaces.base import space_config


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("measurements", help="a CSV with an 'arch' column and a latency column (ms)")
    p.add_argument("--column", required=True, help="the latency column")
    p.add_argument("--hardware", required=True, help="the hardware target's name")
    p.add_argument("--device", required=True, help="the device it was measured on, in words")
    p.add_argument("--space", default="nasbench201", help="the space family the architectures belong to")
    p.add_argument("--batch-size", type=int, default=1, help="the batch size of the measurements")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--num-classes", type=int, default=10)
    p.add_argument("--seed", type=int, default=0, help="which 80%% the fit sees")
    p.add_argument("--out", help="where to write (default: latency_tables/<hardware>.yaml)")
    a = p.parse_args()
    space = build_space(space_config({"name": a.space}))
    model = space.latency_model(DataInfo(3, a.num_classes, a.image_size))
    data = read_measurements(a.measurements, a.column, space)
    table, v = fit_table(space, model, data, a.out or f"latency_tables/{a.hardware}.yaml", a.hardware, a.device,
                         a.batch_size, a.seed)
    print(f"{table.path}: {len(table.entries)} entries of {a.device}, fitted on {v['fit_rows']} of {v['rows']} "
          f"architectures of {data.source} ({data.constant} of constant output left out), "
          f"{'only the ops whose result is read' if table.meta['skips_unread_ops'] else 'every op'} running; "
          f"on the other {v['heldout_rows']}: Kendall tau {v['kendall_tau']:.3f}, "
          f"MAPE {v['mape_percent']:.1f}%, largest error {v['max_abs_error_ms']:.2f} ms")


if __name__ == "__main__":
    main()
