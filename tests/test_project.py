"""Project hygiene: packaging metadata agrees, notebooks are stripped, citation file is sound."""
from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _req_name_and_bound(spec: str) -> tuple[str, str | None]:
    m = re.match(r"^\s*([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*(>=\s*[^,;\s]+)?", spec)
    assert m, spec
    name = m.group(1).lower().replace("_", "-")
    bound = m.group(3).replace(" ", "") if m.group(3) else None
    return name, bound


def _pyproject_requirements() -> dict[str, str | None]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(meta["dependencies"]) + [s for extra in meta["optional-dependencies"].values() for s in extra]
    out = {}
    for spec in specs:
        name, bound = _req_name_and_bound(spec)
        out[name] = bound
        if "[distributed]" in spec:  # conda-forge ships the extra as its own package
            out["distributed"] = bound
    return out


def _conda_requirements() -> dict[str, str | None]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    out = {}
    for dep in env["dependencies"]:
        if not isinstance(dep, str):
            continue
        name, bound = _req_name_and_bound(dep)
        if name in {"python", "pip"}:
            continue
        out[name] = bound
    return out


def test_environment_yml_matches_pyproject():
    assert _conda_requirements() == _pyproject_requirements()


def test_every_requirement_has_a_lower_bound():
    missing = [name for name, bound in _pyproject_requirements().items() if bound is None]
    assert not missing, f"add a >= lower bound for {missing}"


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    first_block = re.search(r"```(?:bash)?\n(.*?)```", readme, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines() if line.strip()]
    assert commands == ["make reproduce", "make test"]
    ci_lines = [l.strip() for l in (ROOT / ".ci/run").read_text().splitlines()
                if l.strip() and not l.strip().startswith(("#", "set ", "cd "))]
    # besides the README's command, .ci/run may only install Chromium for the browser tests
    # and require them to run (issue 15)
    assert ci_lines[-1] == "exec make test"
    setup = ci_lines[:-1]
    assert all(l.startswith(("if ", "fi", "apt-get ", "DEBIAN_FRONTEND=noninteractive apt-get ",
                             "export CLUSTERSTATS_REQUIRE_BROWSER=1")) for l in setup), setup
    assert not any("pytest" in l or "make " in l for l in setup), setup


def test_notebooks_are_committed_without_outputs():
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    for path in notebooks:
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert not cell.get("outputs"), f"{path.name} has outputs: run nbstripout"
                assert cell.get("execution_count") is None, f"{path.name} has execution counts"


def test_citation_cff_has_required_keys():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    for key in ("cff-version", "message", "title", "authors", "version"):
        assert key in cff, key
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert str(cff["version"]) == meta["version"]


def test_package_passes_pyflakes_rules():
    import pytest

    """`ruff check --select F clusterstats` (pyflakes: unused imports, undefined names) is clean."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (it is in the test extra: pip install -e '.[test]')")
    done = subprocess.run([ruff, "check", "--select", "F", "--no-cache", "clusterstats"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:]


def test_no_analysis_function_is_a_god_function():
    """Issue 10: no function in clusterstats/analysis/ over ~80 lines (computation, verdict rules
    and sentences live apart: compute, rules.py + claims.yaml, narrative templates)."""
    import ast

    long = []
    for path in sorted((ROOT / "clusterstats" / "analysis").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                size = node.end_lineno - node.lineno + 1
                if size > 80:
                    long.append(f"{path.name}:{node.name} ({size} lines)")
    assert not long, long
