"""Research: walk-forward optimization with optuna, Monte Carlo, sensitivity, overfitting statistics.

    from traderagent.optimize.walkforward import run_study
    result = run_study("research/trend_follower.yaml", workers=2)   # -> analysis.StudyResult
    result.to_json()                                                  # the JSON result
    from traderagent.report.optimize import render; render(result, "reports/optimize-x.html")

Building blocks: `folds.make_folds`, `objective.Evaluator` / `score` / `OBJECTIVES`,
`overfitting.deflated_sharpe_ratio` / `pbo`, `montecarlo.monte_carlo`, `sensitivity.sensitivity`,
`study.load_study` / `open_storage`. Heavy imports (optuna, vectorbt) happen inside functions.
"""
