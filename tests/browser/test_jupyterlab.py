"""The notebooks as researchers see them: JupyterLab in headless Chromium.

A real JupyterLab server (127.0.0.1, a random free port, a token) serves a temp copy of
``notebooks/``; its kernels write to a temp ``CLUSTERSTATS_HOME``, and JupyterLab's settings,
workspaces and runtime files live in the temp folder too, so the work tree is left exactly as it
was (checked). For each notebook the test opens it, makes sure the "Python (clusterstats)" kernel
is the one running, clicks Run > Run All Cells, waits until every cell has run, and checks what a
user sees: no error output, figures rendered as loaded images, a results table, and the parameter
cell tagged ``parameters`` (read from the notebook model). The checks are generic on purpose: any
notebook that shows a table and a figure passes, whatever its cells say.
Screenshots: ``build/test-artifacts/browser/jupyterlab__<notebook>__*.png``.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = ("h1_cluster_formation.ipynb", "h4_regional_rd_disparity.ipynb")
KERNEL_DISPLAY_NAME = "Python (clusterstats)"
RUN_TIMEOUT_MS = 20 * 60 * 1000  # per notebook; the machine may be shared

# JupyterLab settings for a quiet, deterministic UI: every cell rendered (no windowing, so all
# outputs are in the DOM), no news or update checks (no network).
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tree_state() -> dict[str, str]:
    """sha256 of the committed notebooks and the list of files in the output folders."""
    state = {p.relative_to(REPO).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted((REPO / "notebooks").rglob("*")) if p.is_file()}
    for folder in ("figures", "results", "reports"):
        for p in sorted((REPO / folder).rglob("*")):
            state[p.relative_to(REPO).as_posix()] = str(p.stat().st_mtime_ns)
    return state


def _wait_for_server(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:  # loopback only
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"jupyter lab did not answer within {timeout} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory, chromium_context):
    """A JupyterLab server on a temp copy of notebooks/; yields (base URL, token, root)."""
    from jupyter_client.kernelspec import KernelSpecManager

    if "clusterstats" not in KernelSpecManager().find_kernel_specs():
        pytest.fail("kernel 'clusterstats' is not installed: run `make install`")
    tmp = tmp_path_factory.mktemp("jupyterlab")
    root = tmp / "notebooks"
    shutil.copytree(REPO / "notebooks", root)
    settings = tmp / "lab-settings"
    for rel, value in LAB_SETTINGS.items():
        (settings / rel).parent.mkdir(parents=True, exist_ok=True)
        (settings / rel).write_text(json.dumps(value), encoding="utf-8")
    env = dict(os.environ, CLUSTERSTATS_HOME=str(tmp / "home"),
               JUPYTER_CONFIG_DIR=str(tmp / "config"), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
               JUPYTER_DATA_DIR=str(tmp / "data"), IPYTHONDIR=str(tmp / "ipython"),
               JUPYTERLAB_SETTINGS_DIR=str(settings),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"))
    port, token = _free_port(), secrets.token_hex(16)
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           "--LabApp.expose_app_in_browser=True", "--LabApp.extension_manager=readonly",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           "--ServerApp.terminals_enabled=False"]
    if os.geteuid() == 0:  # CI runs as root; JupyterLab refuses that unless told
        cmd.append("--allow-root")
    log = tmp / "jupyterlab.log"
    before = _tree_state()
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_server(f"{base}/api/status?token={token}", proc, log)
        yield base, token, root
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert _tree_state() == before, "the JupyterLab run changed files in the work tree"
    assert not (REPO / "notebooks" / ".ipynb_checkpoints").exists()


# --------------------------------------------------------------------------- in the page

# The notebook's panel, found by its path (not "the current widget", which a dialog or another
# tab can change); kept as window.__csPanel for the later steps.
APP_READY = """path => {
  const app = window.jupyterapp;
  if (!app || !app.shell) return false;
  const panel = [...app.shell.widgets('main')].find(w => w.context && w.context.path === path);
  window.__csPanel = panel;
  const session = panel && panel.sessionContext && panel.sessionContext.session;
  return !!(panel && panel.content && panel.content.model && session && session.kernel
            && session.kernel.status === 'idle');
}"""

KERNEL_INFO = """() => {
  const ctx = window.__csPanel.sessionContext;
  return {name: ctx.session.kernel.name, display: ctx.kernelDisplayName};
}"""

CHANGE_KERNEL = """async () => {
  await window.__csPanel.sessionContext.changeKernel({name: 'clusterstats'});
}"""

# done: the kernel is idle, nothing is queued ([*]) and every code cell ran, or one failed (then
# the rest never run and the test reports the error instead of waiting for the timeout)
RUN_FINISHED = """() => {
  const panel = window.__csPanel;
  const session = panel.sessionContext.session;
  if (!session || !session.kernel) return false;  // (re)connecting
  if (session.kernel.status === 'dead') return 'dead';
  const nb = panel.content.model.toJSON();
  const code = nb.cells.filter(c => c.cell_type === 'code');
  const failed = code.some(c => (c.outputs || []).some(o => o.output_type === 'error'));
  const queued = [...document.querySelectorAll('.jp-InputPrompt')].some(p => p.textContent.includes('*'));
  return session.kernel.status === 'idle' && !queued && (failed || code.every(c => c.execution_count !== null));
}"""

NOTEBOOK_JSON = "() => window.__csPanel.content.model.toJSON()"

SHUTDOWN = "async () => { if (window.__csPanel) await window.__csPanel.sessionContext.shutdown(); }"

RENDERED = """() => {
  const panel = window.__csPanel.node;
  const imgs = [...panel.querySelectorAll('.jp-OutputArea-output img')];
  const tables = [...panel.querySelectorAll('.jp-OutputArea-output table')];
  const errors = panel.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]');
  return {images: imgs.map(i => ({complete: i.complete, w: i.naturalWidth, h: i.naturalHeight})),
          tables: tables.map(t => t.querySelectorAll('tr').length),
          errors: errors.length};
}"""


def _run_all(page) -> None:
    """Run > Run All Cells, through the menu bar as a user would."""
    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    item = page.locator('.lm-Menu-item[data-command="runmenu:run-all"]')
    assert item.inner_text().startswith("Run All Cells")
    item.click()


def _error_text(nb: dict) -> list[str]:
    return [f"cell {i}: {o.get('ename')}: {o.get('evalue')}"
            for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
            for o in c.get("outputs", []) if o.get("output_type") == "error"]


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_notebook_runs_in_jupyterlab(jupyterlab, page, artifacts, notebook):
    base, token, root = jupyterlab
    stem = Path(notebook).stem
    # a workspace of its own, reset: only this notebook is open, whatever ran before
    page.goto(f"{base}/lab/workspaces/{stem}/tree/{notebook}?reset&token={token}",
              wait_until="domcontentloaded")
    page.wait_for_function(APP_READY, arg=notebook, timeout=180_000, polling=500)
    try:
        _check_notebook(page, artifacts, stem, notebook)
    finally:  # free the kernel's memory for the next notebook
        page.evaluate(SHUTDOWN)


def _check_notebook(page, artifacts, stem: str, notebook: str) -> None:
    if page.evaluate(KERNEL_INFO)["name"] != "clusterstats":
        page.evaluate(CHANGE_KERNEL)
        page.wait_for_function(APP_READY, arg=notebook, timeout=180_000, polling=500)
    kernel = page.evaluate(KERNEL_INFO)
    assert kernel == {"name": "clusterstats", "display": KERNEL_DISPLAY_NAME}
    assert page.locator(".jp-NotebookPanel-toolbar .jp-KernelName, .jp-Toolbar-kernelName").first \
        .inner_text().strip() == KERNEL_DISPLAY_NAME

    _run_all(page)
    state = page.wait_for_function(RUN_FINISHED, timeout=RUN_TIMEOUT_MS, polling=1000).json_value()
    page.screenshot(path=str(artifacts / f"jupyterlab__{stem}__after_run.png"))
    assert state is True, f"the kernel died while running {notebook}"

    nb = page.evaluate(NOTEBOOK_JSON)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert not _error_text(nb), _error_text(nb)
    assert all(c.get("execution_count") is not None for c in code), "not every cell ran"
    # the parameter cell: the first code cell, tagged for papermill
    assert "parameters" in code[0].get("metadata", {}).get("tags", [])
    assert sum("parameters" in c.get("metadata", {}).get("tags", []) for c in code) == 1

    page.wait_for_function("() => [...document.querySelectorAll('.jp-OutputArea-output img')]"
                           ".every(i => i.complete)", timeout=60_000)
    seen = page.evaluate(RENDERED)
    assert seen["errors"] == 0
    assert seen["images"], "no figure was displayed"
    assert all(i["complete"] and i["w"] > 0 and i["h"] > 0 for i in seen["images"]), seen["images"]
    assert any(rows > 1 for rows in seen["tables"]), "no results table was displayed"
    assert any("image/png" in o.get("data", {}) for c in code for o in c.get("outputs", []))

    figure = page.locator(".jp-OutputArea-output img").first
    figure.scroll_into_view_if_needed()
    figure.screenshot(path=str(artifacts / f"jupyterlab__{stem}__figure.png"))
    table = page.locator(".jp-OutputArea-output table").first
    table.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / f"jupyterlab__{stem}__table.png"))
    assert not [e for e in page.clusterstats_errors if "127.0.0.1" in e and "api/" not in e]
