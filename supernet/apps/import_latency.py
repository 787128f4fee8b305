"""Import a latency table published in ProxylessNAS's format as a hardware target:
``supernet-import-latency <table.yaml> --hardware pixel1 --device "Google Pixel 1"``
writes ``latency_tables/<hardware>.yaml``; add ``supernet/conf/hardware/<hardware>.yaml`` pointing at it
(see supernet/conf/hardware/pixel1.yaml).  (Not a hydra app: it takes a file, not a config.)"""
import argparse

from ..spaces.proxyless_chain.proxyless_format import import_table_file


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("table", help="a ProxylessNAS lookup table (YAML: key -> {count, mean, var}, ms)")
    p.add_argument("--hardware", required=True, help="the hardware target's name")
    p.add_argument("--device", required=True, help="the device it was measured on, in words")
    p.add_argument("--out", help="where to write (default: latency_tables/<hardware>.yaml)")
    a = p.parse_args()
    table = import_table_file(a.table, a.out or f"latency_tables/{a.hardware}.yaml", a.hardware, a.device)
    print(f"{table.path}: {len(table.entries)} entries (ms) of {a.device}, imported from {a.table}")


if __name__ == "__main__":
    main()
