"""Benchmark `clusterstats batch` against plain papermill (run by hand, not by pytest).

    .venv/bin/python benchmarks/bench_batch.py [--sets 10] [--repeat 2]

Runs one notebook that imports pandas, statsmodels and seaborn (as the analysis notebooks do) and
reads a shipped data file, over the same grid of parameter sets, four ways:

1. ``clusterstats batch --jobs 1``          (serial, CLI process included)
2. ``clusterstats batch --jobs 2``          (two kernels at a time, threads)
3. ``papermill`` CLI in a shell loop       (one process per notebook: what people do by hand)
4. ``papermill.execute_notebook`` in one Python process, serial: the floor for per-notebook cost

and prints a Markdown table: wall time per configuration (median of ``--repeat``), speed-up of
``--jobs 2`` over ``--jobs 1``, and clusterstats' serial per-notebook time over in-process
papermill's. The load average is printed too: other work on the machine skews every number.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
KERNEL = "clusterstats"

NOTEBOOK_CELLS = [
    ("parameters", 'district = "SOF"\nrepeat = 1\n'),
    (None, "import pandas as pd\nimport seaborn as sns\nimport statsmodels.api as sm\n\n"
           "from clusterstats._paths import data_dir\nfrom clusterstats.results import glue"),
    (None, 'districts = pd.read_csv(data_dir() / "geography" / "districts.csv")\n'
           'row = districts.loc[districts["district"] == district].iloc[0]\n'
           'same_region = int((districts["nuts2"] == row["nuts2"]).sum())\n'
           'glue("districts_in_same_nuts2", same_region)'),
]


def make_notebook(folder: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python (clusterstats)", "language": "python"}
    for tag, source in NOTEBOOK_CELLS:
        cell = nbformat.v4.new_code_cell(source)
        if tag:
            cell.metadata["tags"] = [tag]
        nb.cells.append(cell)
    path = folder / "bench.ipynb"
    nbformat.write(nb, path)
    return path


def grid(n: int) -> list[dict]:
    import pandas as pd

    districts = pd.read_csv(ROOT / "data" / "geography" / "districts.csv")["district"].tolist()
    return [{"district": districts[i % len(districts)], "repeat": 1 + i // len(districts)} for i in range(n)]


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run_clusterstats(nb: Path, sets: list[dict], out: Path, jobs: int) -> None:
    import yaml

    grid_file = out.parent / f"{out.name}.grid.yaml"
    grid_file.write_text(yaml.safe_dump(sets))
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run([str(BIN / "clusterstats"), "batch", str(nb), "--grid", str(grid_file), "--jobs", str(jobs),
                    "--output", str(out), "--force", "--quiet"], check=True, stdout=subprocess.DEVNULL)


def run_papermill_cli(nb: Path, sets: list[dict], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    script = "\n".join(
        f'"{BIN / "papermill"}" "{nb}" "{out / f"run{i}.ipynb"}" -k {KERNEL} --no-progress-bar '
        + " ".join(f"-p {k} {v}" for k, v in s.items()) + " 2>/dev/null"
        for i, s in enumerate(sets))
    subprocess.run(["bash", "-e", "-c", script], check=True)


def run_papermill_inprocess(nb: Path, sets: list[dict], out: Path) -> None:
    """Serial papermill.execute_notebook in a fresh Python process (import cost included once)."""
    out.mkdir(parents=True, exist_ok=True)
    code = ("import sys, json, papermill as pm\n"
            f"sets = json.loads({__import__('json').dumps(__import__('json').dumps(sets))})\n"
            "for i, s in enumerate(sets):\n"
            f"    pm.execute_notebook({str(nb)!r}, {str(out)!r} + f'/run{{i}}.ipynb', parameters=s,\n"
            f"                        kernel_name={KERNEL!r}, progress_bar=False)\n")
    subprocess.run([sys.executable, "-c", code], check=True, stderr=subprocess.DEVNULL)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    nb = make_notebook(tmp)
    sets = grid(args.sets)
    configs = {
        "clusterstats batch --jobs 1": lambda: run_clusterstats(nb, sets, tmp / "cs1", 1),
        "clusterstats batch --jobs 2": lambda: run_clusterstats(nb, sets, tmp / "cs2", 2),
        "papermill CLI, shell loop": lambda: run_papermill_cli(nb, sets, tmp / "pmcli"),
        "papermill.execute_notebook, one process": lambda: run_papermill_inprocess(nb, sets, tmp / "pmin"),
    }
    print(f"load average before: {os.getloadavg()}", file=sys.stderr)
    times: dict[str, list[float]] = {k: [] for k in configs}
    for rep in range(args.repeat):
        for name, fn in configs.items():  # interleaved, so load drifts hit all configs alike
            t = timed(fn)
            times[name].append(t)
            print(f"rep {rep + 1}: {name}: {t:.1f} s  (load {os.getloadavg()[0]:.2f})", file=sys.stderr)
    print(f"load average after: {os.getloadavg()}", file=sys.stderr)
    med = {k: statistics.median(v) for k, v in times.items()}
    n = len(sets)
    print(f"| configuration ({n} parameter sets, median of {args.repeat}) | wall s | s / notebook |")
    print("|---|---:|---:|")
    for name, t in med.items():
        print(f"| {name} | {t:.1f} | {t / n:.2f} |")
    speedup = med["clusterstats batch --jobs 1"] / med["clusterstats batch --jobs 2"]
    overhead = med["clusterstats batch --jobs 1"] / med["papermill.execute_notebook, one process"]
    print(f"\nspeed-up --jobs 2 vs --jobs 1: {speedup:.2f}x (target >= 1.8x)")
    print(f"clusterstats serial vs in-process papermill, per notebook: {overhead:.2f}x (target <= 1.2x)")
    print(f"papermill CLI loop vs clusterstats --jobs 1: "
          f"{med['papermill CLI, shell loop'] / med['clusterstats batch --jobs 1']:.2f}x slower")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
