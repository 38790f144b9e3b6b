"""Every name the stats namespace advertises resolves to the submodule's object."""
import importlib

import clusterstats.stats as stats


def test_every_export_resolves_to_its_submodule():
    for name in stats.__all__:
        module = importlib.import_module(f"clusterstats.stats.{stats._WHERE[name]}")
        assert getattr(stats, name) is getattr(module, name)
