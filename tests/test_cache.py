"""The content-addressed response cache: names, manifest, verification, concurrent writers."""
from __future__ import annotations

import hashlib
import json
import threading

import pytest

from clusterstats._paths import mirror_dir
from clusterstats.cache import Cache, Query, default_cache_dir

TGS = mirror_dir() / "eurostat" / "tgs00042" / "estat_tgs00042.tsv"
pytestmark = pytest.mark.skipif(not TGS.exists(), reason="shared mirror not available")


def test_object_is_named_by_its_sha256_and_listed_in_the_manifest(tmp_path):
    data = TGS.read_bytes()
    cache = Cache(tmp_path)
    q = Query("tgs00042", "...BG31+BG41", "2014", None)
    entry = cache.put(q, data, url="http://127.0.0.1/x", retrieved_at="2026-01-01T00:00:00+00:00",
                      last_update="2025-12-01")
    sha = hashlib.sha256(data).hexdigest()
    assert entry.sha256 == sha and (tmp_path / "objects" / sha).read_bytes() == data
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    record = manifest[q.id]
    assert record["sha256"] == sha and record["size"] == len(data)
    assert record["query"] == {"dataset": "tgs00042", "key": "...BG31+BG41", "start": "2014",
                               "end": None, "format": "TSV"}
    assert cache.get(q).read() == data
    assert not list(tmp_path.rglob("*.tmp"))  # atomic writes leave no temp files


def test_same_bytes_for_two_queries_are_stored_once(tmp_path):
    data = TGS.read_bytes()
    cache = Cache(tmp_path)
    for key in ("...BG31", "A...BG31"):
        cache.put(Query("tgs00042", key), data, url="u", retrieved_at="t")
    assert len(list((tmp_path / "objects").iterdir())) == 1
    assert len(cache.entries()) == 2


def test_missing_or_tampered_object(tmp_path):
    cache = Cache(tmp_path)
    q = Query("tgs00042")
    entry = cache.put(q, TGS.read_bytes(), url="u", retrieved_at="t")
    entry.path.chmod(0o644)
    entry.path.write_bytes(b"changed")
    with pytest.raises(OSError, match="does not match its sha256"):
        cache.get(q).read()
    entry.path.unlink()
    assert cache.get(q) is None
    assert cache.get(Query("other")) is None


def test_concurrent_writers_keep_every_manifest_entry(tmp_path):
    data = TGS.read_bytes()

    def write(prefix: str) -> None:
        cache = Cache(tmp_path)  # separate objects, as two processes would have
        for i in range(15):
            cache.put(Query("tgs00042", f"{prefix}{i}"), data, url="u", retrieved_at="t")

    threads = [threading.Thread(target=write, args=(p,)) for p in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(Cache(tmp_path).entries()) == 30


def test_default_location_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CLUSTERSTATS_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("CLUSTERSTATS_CACHE")
    assert default_cache_dir().parts[-2:] == (".cache", "clusterstats")


def test_query_ids_are_readable_and_distinguish_periods():
    a, b = Query("TGS00042", "...BG31", "2014"), Query("tgs00042", "...BG31", "2015")
    assert a.id == "TSV:tgs00042/...BG31?start=2014&end="
    assert a.id != b.id and "2014" in a.describe()
