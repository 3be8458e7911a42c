"""Where numba keeps compiled kernels: a folder keyed by the package's sources, so a change anywhere is a fresh cache.

numba's `cache=True` invalidates a cached kernel only when its own file changes, not when a kernel or a record
dtype it uses from another module does; a stale entry then runs old code (the wrong last bits of a fill) or reads
a record with an old layout (a segfault). Keying the folder by the size and mtime of every file kernels are built
from (`KERNEL_DIRS`, every `*nb.py`, the package root) makes any edit there start a new cache. An explicit NUMBA_CACHE_DIR (the container sets one) is left alone. Runs before numba is
imported (traderagent/__init__.py); stat-ing the sources costs about a millisecond.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

KEEP = 3  # cache folders kept per checkout (the newest); older ones are deleted


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "traderagent" / "numba"


#: Folders whose every module may define what a kernel compiles in (kernels, record dtypes, constants); elsewhere
#: only the `*nb.py` modules hold kernels. An edit to the live adapter or the CLI keeps the compiled kernels.
KERNEL_DIRS = ("core", "indicators", "strategies")


def sources_key(package: Path) -> str:
    h = hashlib.sha1()
    for top, dirs, files in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        rel = os.path.relpath(top, package)
        whole = rel == "." or rel.split(os.sep)[0] in KERNEL_DIRS
        for name in sorted(files):
            if name.endswith(".py") and (whole or name.endswith("nb.py")):
                st = os.stat(os.path.join(top, name))
                h.update(f"{top}/{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def configure(package: Path | None = None) -> str | None:
    """Set NUMBA_CACHE_DIR for this process unless it is set (or numba is already imported); returns the folder."""
    import sys

    if os.environ.get("NUMBA_CACHE_DIR") or "numba" in sys.modules:
        return None
    package = package or Path(__file__).resolve().parent
    try:
        checkout = cache_root() / hashlib.sha1(str(package).encode()).hexdigest()[:12]
        folder = checkout / sources_key(package)
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
            old = sorted((d for d in checkout.iterdir() if d.is_dir() and d != folder), key=lambda d: d.stat().st_mtime)
            import shutil

            for d in old[: max(len(old) - (KEEP - 1), 0)]:
                shutil.rmtree(d, ignore_errors=True)
    except OSError:  # a read-only home: numba's own default (beside the sources) applies
        return None
    os.environ["NUMBA_CACHE_DIR"] = str(folder)
    return str(folder)
