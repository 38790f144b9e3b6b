"""Fixtures shared by several test folders."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def small_real_run(tmp_path_factory):
    """A real ``clusterstats run`` of the H8 notebook (999 bootstrap draws) into a temp
    ``CLUSTERSTATS_HOME``: executed notebook, figures with sidecars, ``results/hypotheses.csv``.

    Used by the results-site tests, so the site is built from what a run writes, not from
    invented rows. Nothing is written into the work tree.
    """
    from jupyter_client.kernelspec import KernelSpecManager

    if "clusterstats" not in KernelSpecManager().find_kernel_specs():
        pytest.skip("kernel 'clusterstats' not installed (make install)")
    home = tmp_path_factory.mktemp("home")
    pipeline = home / "pipeline.yaml"
    pipeline.write_text("notebooks:\n  - notebook: h8_cluster_size.ipynb\n"
                        "    parameter_sets:\n      - {n_boot: 999}\n", encoding="utf-8")
    env = dict(os.environ, CLUSTERSTATS_HOME=str(home))
    proc = subprocess.run(
        [sys.executable, "-m", "clusterstats.cli", "run", "--pipeline", str(pipeline),
         "--notebooks-dir", str(REPO / "notebooks"), "--output", str(home / "build" / "notebooks"),
         "--quiet", "--no-post-steps"], env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return home
