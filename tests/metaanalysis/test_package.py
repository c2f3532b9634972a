"""The top-level package: lazy exports that tab completion and dir() can see."""

from __future__ import annotations

import subprocess
import sys


def test_dir_lists_every_lazy_export():
    import metaanalysis as ma

    names = dir(ma)
    assert set(ma.__all__) <= set(names)
    for private in ("Any", "annotations", "importlib"):
        assert private not in names
    for name in ma.__all__:
        assert getattr(ma, name) is not None


def test_listing_the_names_imports_nothing_heavy():
    code = ("import sys, metaanalysis as ma; names = dir(ma); "
            "heavy = [m for m in ('numpy', 'pandas', 'scipy', 'matplotlib') if m in sys.modules]; "
            "print(len(names), heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split(maxsplit=1)
    assert int(out[0]) > 20 and out[1].strip() == "[]"
