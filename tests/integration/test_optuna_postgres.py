"""Two worker processes share one study on the real PostgreSQL server (a throwaway database, dropped after).

Under CI=true an unreachable server fails the run (tests/integration/pg.py); elsewhere it is skipped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from integration.pg import create_database, drop_database, require_postgres

ROOT = Path(__file__).resolve().parents[2]
TRIALS = 16

pytestmark = pytest.mark.postgres


@pytest.fixture
def optuna_db():
    require_postgres()
    url = create_database("ta_optuna")
    try:
        yield url
    finally:
        drop_database(url)


def test_two_worker_processes_share_one_study(tmp_path, optuna_db, btc_15m):
    from optuna.trial import TrialState

    from traderagent.optimize.walkforward import fold_study, prepare, run_study

    spec = {"name": "tf_pg", "strategy": "trend_follower", "timeframe": "1h", "start": "2024-06-01",
            "end": "2025-03-31", "min_trades": 3, "trials": TRIALS, "seed": 3,
            "folds": {"n": 2, "in_sample_ratio": 2, "purge": "1d"}, "monte_carlo": {"runs": 100},
            "sensitivity": {"points": 2, "pairs": 0}, "pbo_blocks": 8}
    study = tmp_path / "tf_pg.yaml"
    study.write_text(yaml.safe_dump(spec), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "traderagent", "optimize", str(study), "--worker", "--workers", "2",
           "--storage", optuna_db, "--json", "--quiet"]
    procs = [subprocess.Popen([*cmd, "--worker-id", str(i)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, cwd=ROOT, env=env) for i in (0, 1)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    timings = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    assert sorted(t["worker"] for t in timings) == [0, 1] and all(t["trials"] > 0 for t in timings)

    ctx = prepare(study, optuna_db)
    try:
        counts = []
        owners = set()
        for k in range(2):
            done = fold_study(ctx, k).get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
            assert TRIALS <= len(done) <= TRIALS + 10, len(done)
            assert sorted(t.number for t in done) == list(range(len(done)))
            owners |= {t.user_attrs["worker"].split("-")[0] for t in done}
            counts.append(len(done))
    finally:
        ctx.close()
    assert owners == {"0", "1"}  # both processes wrote trials into the shared studies
    assert sum(t["trials"] for t in timings) == sum(counts)

    # the coordinator resumes the finished study: no new trials, the analysis reads the shared trials
    result = run_study(study, storage=optuna_db, workers=1)
    assert result.timings["workers"][0]["trials"] == 0
    assert len(result.folds) == 2 and result.stitched.integrity["ok"]
    assert all(f.n_trials >= TRIALS for f in result.folds)

    # optuna's tables live in their own database, apart from the app's migrations
    engine = sa.create_engine(sa.make_url(optuna_db).set(drivername="postgresql+psycopg"), poolclass=sa.pool.NullPool)
    try:
        tables = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"studies", "trials", "trial_params", "alembic_version"} <= tables
