"""Benchmark `clusterstats batch` / `clusterstats run` against plain papermill (by hand, not pytest).

    .venv/bin/python benchmarks/bench_batch.py [--runs 20] [--rounds 1] [--full]

Two notebooks, each run ``--runs`` times with distinct parameters, four ways, interleaved round by
round so that load drift hits every configuration alike:

1. ``clusterstats batch --jobs 1``            (serial; CLI start-up and bookkeeping included)
2. ``clusterstats batch --jobs 2``            (two kernels at a time)
3. ``papermill`` CLI in a shell loop          (one process per notebook: the usual hand-made batch)
4. ``papermill.execute_notebook`` in one process, serial

The notebooks: *trivial* (a parameters cell and one line; its time per run is the runner's
overhead: kernel start, parameterising, writing the notebook and manifest) and
``notebooks/h8_cluster_size.ipynb`` (a real hypothesis: imports, bootstrap, a figure saved as
PDF/SVG/PNG, rows). ``--full`` adds a forced full ``clusterstats run --force`` of the shipped
pipeline with ``--jobs 1`` and ``--jobs 2``, into a temporary ``CLUSTERSTATS_HOME`` (the
repository's figures/ and results/ are not touched). Every output goes to a temp folder.

The load average is printed with every measurement: other work on the machine skews every number.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
KERNEL = "clusterstats"
H8 = ROOT / "notebooks" / "h8_cluster_size.ipynb"


def make_trivial(folder: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python (clusterstats)", "language": "python"}
    params = nbformat.v4.new_code_cell("x = 0\n")
    params.metadata["tags"] = ["parameters"]
    nb.cells += [params, nbformat.v4.new_code_cell("y = x + 1")]
    path = folder / "trivial.ipynb"
    nbformat.write(nb, path)
    return path


def parameter_sets(nb: Path, n: int, out: Path) -> list[dict]:
    if nb.name == "trivial.ipynb":
        return [{"x": i + 1} for i in range(n)]
    # h8: distinct seeds; papermill runs get their own figure/result folders (never the repo's)
    return [{"seed": i + 1, "figures_dir": str(out / "figures"), "results_dir": str(out / "results")}
            for i in range(n)]


def run_clusterstats(nb: Path, sets: list[dict], out: Path, jobs: int) -> None:
    import yaml

    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    grid = out / "grid.yaml"
    grid.write_text(yaml.safe_dump([{k: v for k, v in s.items() if not k.endswith("_dir")} for s in sets]))
    subprocess.run([str(BIN / "clusterstats"), "batch", str(nb), "--grid", str(grid), "--jobs", str(jobs),
                    "--output", str(out / "batch"), "--force", "--quiet"], check=True,
                   stdout=subprocess.DEVNULL)


def run_papermill_cli(nb: Path, sets: list[dict], out: Path) -> None:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    script = "\n".join(
        f'"{BIN / "papermill"}" "{nb}" "{out / f"run{i}.ipynb"}" -k {KERNEL} --no-progress-bar --cwd "{nb.parent}" '
        + " ".join(f"-p {k} {v}" for k, v in s.items()) + " 2>/dev/null"
        for i, s in enumerate(sets))
    subprocess.run(["bash", "-e", "-c", script], check=True)


def run_papermill_inprocess(nb: Path, sets: list[dict], out: Path) -> None:
    """Serial papermill.execute_notebook in one fresh Python process (import cost paid once)."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    code = ("import sys, json, papermill as pm\n"
            f"sets = json.loads({json.dumps(json.dumps(sets))})\n"
            "for i, s in enumerate(sets):\n"
            f"    pm.execute_notebook({str(nb)!r}, {str(out)!r} + f'/run{{i}}.ipynb', parameters=s,\n"
            f"                        kernel_name={KERNEL!r}, progress_bar=False, cwd={str(nb.parent)!r})\n")
    subprocess.run([sys.executable, "-c", code], check=True, stderr=subprocess.DEVNULL)


def run_full(home: Path, jobs: int) -> None:
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    env = {**os.environ, "CLUSTERSTATS_HOME": str(home), "CLUSTERSTATS_DATA": str(ROOT / "data")}
    subprocess.run([str(BIN / "clusterstats"), "run", "--force", "--jobs", str(jobs), "--quiet",
                    "--output", str(home / "build" / "notebooks")], check=False, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def measure(label: str, fn, log: list) -> float:
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    fn()
    t = time.perf_counter() - t0
    load1 = os.getloadavg()[0]
    log.append({"config": label, "seconds": t, "load_before": load0, "load_after": load1})
    print(f"{label}: {t:.1f} s (load {load0:.2f} -> {load1:.2f})", file=sys.stderr, flush=True)
    return t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20, help="runs per notebook and configuration")
    ap.add_argument("--rounds", type=int, default=1, help="interleaved rounds (median reported)")
    ap.add_argument("--full", action="store_true", help="also a forced full `clusterstats run`")
    ap.add_argument("--only", choices=["trivial", "h8"], default=None)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    notebooks = {"trivial": make_trivial(tmp), "h8": H8}
    if args.only:
        notebooks = {args.only: notebooks[args.only]}
    log: list[dict] = []
    print(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}", file=sys.stderr)
    for rnd in range(args.rounds):
        for key, nb in notebooks.items():
            configs = {
                "clusterstats batch --jobs 1": lambda o: run_clusterstats(nb, parameter_sets(nb, args.runs, o), o, 1),
                "clusterstats batch --jobs 2": lambda o: run_clusterstats(nb, parameter_sets(nb, args.runs, o), o, 2),
                "papermill CLI, shell loop": lambda o: run_papermill_cli(nb, parameter_sets(nb, args.runs, o), o),
                "papermill.execute_notebook, one process":
                    lambda o: run_papermill_inprocess(nb, parameter_sets(nb, args.runs, o), o),
            }
            for i, (name, fn) in enumerate(configs.items()):
                out = tmp / f"{key}-{i}"
                measure(f"{key}: {name}", lambda: fn(out), log)
        if args.full:
            measure("full run --force --jobs 1", lambda: run_full(tmp / "full1", 1), log)
            measure("full run --force --jobs 2", lambda: run_full(tmp / "full2", 2), log)
    print(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}", file=sys.stderr)
    report(log, args.runs)
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


def report(log: list[dict], runs: int) -> None:
    import statistics

    by: dict[str, list[dict]] = {}
    for row in log:
        by.setdefault(row["config"], []).append(row)
    med = {k: statistics.median(r["seconds"] for r in v) for k, v in by.items()}
    print(f"| configuration ({runs} runs) | wall s | s / run | load before → after |")
    print("|---|---:|---:|---|")
    for k, v in by.items():
        per = "" if k.startswith("full") else f"{med[k] / runs:.2f}"
        loads = ", ".join(f"{r['load_before']:.1f} → {r['load_after']:.1f}" for r in v)
        print(f"| {k} | {med[k]:.1f} | {per} | {loads} |")
    for key in ("trivial", "h8"):
        one, two = med.get(f"{key}: clusterstats batch --jobs 1"), med.get(f"{key}: clusterstats batch --jobs 2")
        cli, inproc = med.get(f"{key}: papermill CLI, shell loop"), \
            med.get(f"{key}: papermill.execute_notebook, one process")
        if one:
            print(f"\n{key}: {one / runs:.2f} s/run serial; --jobs 2 speed-up {one / two:.2f}x; "
                  f"papermill CLI loop / --jobs 1 = {cli / one:.2f}x (target >= 5x); "
                  f"in-process papermill / --jobs 1 = {inproc / one:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
