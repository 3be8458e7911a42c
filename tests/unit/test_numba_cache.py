"""The numba cache folder is keyed by the package's sources: an edit anywhere gives a new folder."""

from __future__ import annotations

import os
import subprocess
import sys

from traderagent import _numba_cache as nc


def test_an_edit_where_kernels_live_changes_the_key(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "core").mkdir(parents=True)
    (pkg / "a.py").write_text("x = 1\n")
    (pkg / "core" / "b.py").write_text("y = 2\n")
    (pkg / "cli").mkdir()
    (pkg / "cli" / "c.py").write_text("z = 1\n")
    k0 = nc.sources_key(pkg)
    assert nc.sources_key(pkg) == k0
    (pkg / "cli" / "c.py").write_text("z = 22\n")
    assert nc.sources_key(pkg) == k0  # not a kernel folder
    (pkg / "core" / "b.py").write_text("y = 3\n")
    os.utime(pkg / "core" / "b.py", ns=(1, 1))
    assert nc.sources_key(pkg) != k0


def test_the_import_sets_a_keyed_folder_and_keeps_an_explicit_one(tmp_path):
    code = "import os, traderagent, numba; print(os.environ['NUMBA_CACHE_DIR']); print(numba.config.CACHE_DIR)"
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    ours, numbas = out.split()
    assert ours == numbas and ours.startswith(str(tmp_path / "traderagent" / "numba"))
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "mine")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == [str(tmp_path / "mine")] * 2
