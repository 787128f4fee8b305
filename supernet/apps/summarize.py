"""Summarize a multirun folder: ``supernet-summarize multirun/search/<date>``.

Writes summary.csv, summary.md and accuracy_latency.png into that folder and prints the table.
(Not a hydra app: it takes a folder, not a config.)"""
import argparse

from ..summary import summarize


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("sweep_dir", help="a hydra multirun folder (holds one folder per run)")
    rows, files = summarize(p.parse_args().sweep_dir)
    print(files["markdown"].read_text())
    for name, path in files.items():
        print(f"  {name:9s} {path.resolve()}")
    bad = [r for r in rows if r["status"] != "finished"]
    if bad:
        print(f"{len(bad)} of {len(rows)} runs did not finish: "
              + ", ".join(f"{r['run']} ({r['status']})" for r in bad))


if __name__ == "__main__":
    main()
