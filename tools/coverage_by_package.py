"""Print line coverage per package of traderagent from the combined coverage data (`make coverage`).

    .venv/bin/python tools/coverage_by_package.py [--data .coverage] [--json]

One row per subpackage (traderagent/backtest, traderagent/cli, ...; top-level modules as "traderagent"),
then the total. Statements and misses are coverage.py's own (excluded lines do not count).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def by_package(data_file: str) -> dict[str, tuple[int, int]]:
    """{package: (statements, missed)} from a coverage data file."""
    import coverage

    cov = coverage.Coverage(data_file=data_file)
    cov.load()
    out: dict[str, list[int]] = {}
    for path in sorted(cov.get_data().measured_files()):
        rel = Path(path).resolve().relative_to(ROOT) if Path(path).resolve().is_relative_to(ROOT) else None
        if rel is None or rel.parts[0] != "traderagent":
            continue
        package = "/".join(rel.parts[:2]) if len(rel.parts) > 2 else "traderagent"
        _, statements, _, missing, _ = cov.analysis2(path)
        acc = out.setdefault(package, [0, 0])
        acc[0] += len(statements)
        acc[1] += len(missing)
    return {k: (v[0], v[1]) for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT / ".coverage"), help="coverage data file (default .coverage)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args(argv)
    if not Path(args.data).exists():
        print(f"coverage_by_package: {args.data} not found; run `make coverage`", file=sys.stderr)
        return 2
    rows = by_package(args.data)
    total_s = sum(s for s, _ in rows.values())
    total_m = sum(m for _, m in rows.values())
    pct = {k: 100.0 * (s - m) / s if s else 100.0 for k, (s, m) in rows.items()}
    total = 100.0 * (total_s - total_m) / total_s if total_s else 100.0
    if args.json:
        print(json.dumps({"packages": {k: {"statements": s, "missed": m, "percent": round(pct[k], 1)}
                                       for k, (s, m) in rows.items()},
                          "total": {"statements": total_s, "missed": total_m, "percent": round(total, 1)}}))
        return 0
    print(f"{'package':<26}{'statements':>11}{'missed':>8}{'cover':>8}")
    for k, (s, m) in sorted(rows.items()):
        print(f"{k:<26}{s:>11}{m:>8}{pct[k]:>7.1f}%")
    print(f"{'total':<26}{total_s:>11}{total_m:>8}{total:>7.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
