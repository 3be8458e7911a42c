"""After the trials: select, judge out of sample, stitch, and say how likely the result is to be luck.

Definitions (docs/research.md repeats them):

* A fold's best trial is its highest-scoring *valid* trial (min-trades rule met, metric defined), ties
  to the earlier trial. A fold without one stays in cash out of sample.
* The stitched OOS run concatenates every fold's OOS signals (each window ends flat) and runs them through
  `backtest.engine.run_signals` once: one equity curve, compounding across folds, with integrity gates.
* Walk-forward efficiency (Pardo): stitched OOS CAGR / mean IS CAGR of the selected trials (NaN when
  the IS mean is not positive); also per fold, and on the objective (mean OOS / mean IS objective).
* Parameter stability: per searched numeric param, the standard deviation of the folds' choices as a
  share of its search range (stable when <= 0.15); per categorical param, the share of folds that agree
  with the most common choice (stable when >= 0.6).
* DSR: the stitched OOS daily Sharpe, deflated as if it were the best of every distinct configuration
  the study tried (N = distinct valid trials over all folds, V = variance of their IS daily Sharpes) —
  the conservative reading a sceptic applies to a published backtest. Per fold, the classic use: the
  IS winner's Sharpe deflated for its fold's N. PSR: P(true OOS Sharpe > 0) with no deflation.
* PBO: CSCV over each fold's IS window (daily returns of its distinct valid trials), pooled over folds.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from traderagent.backtest.metrics import compute_stats
from traderagent.core.signals import Signals
from traderagent.errors import UserError
from traderagent.optimize import montecarlo, overfitting
from traderagent.optimize.folds import Fold
from traderagent.optimize.objective import OBJECTIVES, daily_returns, score, trade_returns
from traderagent.optimize.sensitivity import sensitivity

#: Relative tolerance between the fast path and the full engine run of the same window.
AGREE_RTOL = 1e-9


@dataclass
class FoldResult:
    fold: Fold
    times: dict
    n_trials: int
    n_valid: int
    n_pruned: int
    n_configs: int  # distinct valid configurations
    best_number: int | None
    best_values: dict | None
    params: dict | None
    is_stats: dict
    oos_stats: dict
    is_value: float
    oos_value: float
    is_dsr: float
    sr_var: float
    trial_sharpes: np.ndarray
    pbo: overfitting.PBOResult | None
    history: list[tuple[int, float | None, bool]]
    oos_integrity_ok: bool
    oos_signals: Signals = field(repr=False, default=None)
    oos_run: Any = field(repr=False, default=None)  # the OOS BacktestResult (None: in cash)

    @property
    def wfe(self) -> float:
        i, o = self.is_stats.get("cagr", math.nan), self.oos_stats.get("cagr", math.nan)
        return o / i if i > 0 else math.nan

    def as_dict(self) -> dict:
        return {
            "fold": self.fold.k, **self.times, "n_trials": self.n_trials, "n_valid": self.n_valid,
            "n_pruned": self.n_pruned, "n_configs": self.n_configs, "best_trial": self.best_number,
            "best_values": self.best_values, "params": self.params, "is_stats": self.is_stats,
            "oos_stats": self.oos_stats, "is_objective": self.is_value, "oos_objective": self.oos_value,
            "is_dsr": self.is_dsr, "trial_sharpe_var": self.sr_var, "wfe": self.wfe,
            "pbo": self.pbo.as_dict() if self.pbo else None, "oos_integrity_ok": self.oos_integrity_ok,
        }


@dataclass
class StudyResult:
    """The walk-forward outcome; `to_json()` is the JSON result, the report reads the rest."""

    spec: Any
    info: dict
    folds: list[FoldResult]
    stitched: Any  # BacktestResult
    oos_bars: pd.DataFrame
    buy_hold: np.ndarray
    wfe: dict
    stability: list[dict]
    monte_carlo: dict
    sensitivity: dict | None
    dsr: dict
    pbo: dict
    verdict: dict
    timings: dict = field(default_factory=dict)

    @property
    def final_params(self) -> dict | None:
        """The params the last fold chose: what the study says to trade next."""
        for f in reversed(self.folds):
            if f.params is not None:
                return f.params
        return None

    def to_json(self) -> dict:
        from traderagent.backtest.result import json_safe

        s = self.stitched
        return json_safe({
            "study": self.spec.name, "strategy": self.spec.strategy, "symbol": self.spec.symbol,
            "timeframe": self.info["timeframe"], "objective": self.spec.objective,
            "start": s.index[0], "end": s.index[-1], "info": self.info,
            "verdict": self.verdict,
            "oos": {"stats": s.stats, "initial_equity": s.initial_equity, "final_equity": s.final_equity,
                    "buy_hold_return": float(self.buy_hold[-1] / self.buy_hold[0] - 1) if len(self.buy_hold) else None,
                    "integrity": {"ok": s.integrity["ok"], "flags": s.integrity["flags"]},
                    "trades": len(s.trades)},
            "wfe": self.wfe, "dsr": self.dsr, "pbo": self.pbo, "stability": self.stability,
            "final_params": self.final_params,
            "folds": [f.as_dict() for f in self.folds],
            "monte_carlo": {k: v.as_dict() for k, v in self.monte_carlo.items()},
            "sensitivity": self.sensitivity, "timings": self.timings,
        })


# ------------------------------------------------------------------------------------------------- folds
def _objective_value(stats: dict, objective: str) -> float:
    v = OBJECTIVES[objective](stats)
    return float(v)


def _fold_configs(ctx, k: int, valid: list) -> tuple[list[np.ndarray], int]:
    """Daily IS returns of each distinct valid configuration (from the worker cache, else re-run)."""
    from traderagent.optimize.fold_store import params_key

    fold = ctx.folds[k]
    seen: set = set()
    cols = []
    rerun = 0
    for t in valid:
        key = params_key(t.params)
        if key in seen:
            continue
        seen.add(key)
        daily = ctx.cache.get((k, key))
        if daily is None:
            daily = ctx.evaluator.evaluate(ctx.evaluator.make_params(t.params), fold.is_start, fold.is_end).daily
            rerun += 1
        cols.append(daily)
    return cols, rerun


def analyze_fold(ctx, k: int, trials: int) -> FoldResult:
    from optuna.trial import TrialState

    from traderagent.optimize.fold_store import fold_study

    spec, ev, fold = ctx.spec, ctx.evaluator, ctx.folds[k]
    study = fold_study(ctx, k, create=True)
    all_trials = study.get_trials(deepcopy=False)
    complete = [t for t in all_trials if t.state == TrialState.COMPLETE]
    valid = [t for t in complete if (t.user_attrs.get("m") or {}).get("valid")]
    history = [(t.number, t.value, bool((t.user_attrs.get("m") or {}).get("valid"))) for t in complete]
    best = max(valid, key=lambda t: (t.value, -t.number)) if valid else None
    cols, _ = _fold_configs(ctx, k, valid)
    sharpes = np.array([overfitting.sharpe(c) for c in cols])
    finite = sharpes[np.isfinite(sharpes)]
    sr_var = float(finite.var(ddof=1)) if finite.size > 1 else math.nan
    pbo = overfitting.pbo(np.column_stack(cols), spec.pbo_blocks) if len(cols) >= 2 else None
    m = fold.oos_bars
    if best is not None:
        params = ev.make_params(best.params)
        is_ev = ev.evaluate(params, fold.is_start, fold.is_end)
        is_stats = is_ev.stats
        is_value = score(is_stats, spec.objective, spec.min_trades)[0]
        skew, kurt = overfitting.moments(is_ev.daily)
        is_dsr = overfitting.deflated_sharpe_ratio(overfitting.sharpe(is_ev.daily), len(is_ev.daily), len(cols),
                                                   sr_var, skew, kurt)
    else:
        params, is_stats, is_value, is_dsr = None, {}, math.nan, math.nan
    order = ev.spec.kind == "order"
    sig = None
    if order:
        full = ev.full_run(params, fold.oos_start, fold.oos_end) if params is not None else None
    else:
        sig = ev.window_signals(params, fold.oos_start, fold.oos_end) if params is not None else Signals.empty(m)
        full = ev.full_run(params, fold.oos_start, fold.oos_end, signals=sig)
        if params is not None:
            fast = ev.evaluate(params, fold.oos_start, fold.oos_end)
            if not np.allclose(fast.equity, full.equity, rtol=AGREE_RTOL, atol=0):
                raise AssertionError(f"fold {k}: the fast path and the engine disagree on the OOS equity")
    oos_stats = full.stats if full is not None else _flat_stats(ev, m)
    from traderagent.backtest.result import iso_utc

    times = {key: iso_utc(v) for key, v in fold.as_dict(ctx.index).items() if key.endswith(("_from", "_to"))}
    return FoldResult(
        fold=fold, times=times, n_trials=len(all_trials), n_valid=len(valid),
        n_pruned=sum(t.state == TrialState.PRUNED for t in all_trials), n_configs=len(cols),
        best_number=best.number if best else None, best_values=dict(best.params) if best else None,
        params=params.model_dump(mode="json") if params is not None else None, is_stats=is_stats,
        oos_stats=oos_stats, is_value=is_value, oos_value=_objective_value(oos_stats, spec.objective),
        is_dsr=is_dsr, sr_var=sr_var, trial_sharpes=finite, pbo=pbo, history=history,
        oos_integrity_ok=bool(full.integrity["ok"]) if full is not None else True, oos_signals=sig, oos_run=full,
    )


def _flat_stats(ev, m: int) -> dict:
    """Stats of a window spent in cash (a fold of an order strategy without a valid trial)."""
    init = float(ev.engine["initial_equity"])
    return compute_stats(np.full(m, init), init, ev.timeframe, np.empty(0), np.zeros(m), np.empty(0, dtype=np.int64))


# --------------------------------------------------------------------------------------------- summaries
def stability(folds: list[FoldResult], space: dict[str, dict]) -> list[dict]:
    rows = []
    for name, d in space.items():
        vals = [f.best_values.get(name) if f.best_values else None for f in folds]
        chosen = [v for v, f in zip(vals, folds, strict=True) if f.best_values is not None]
        row: dict[str, Any] = {"param": name, "values": vals}
        if not chosen:
            row.update(score=math.nan, stable=None)
        elif d["type"] == "categorical":
            mode = max(set(map(str, chosen)), key=[str(v) for v in chosen].count)
            agree = [str(v) for v in chosen].count(mode) / len(chosen)
            row.update(measure="agreement", score=agree, stable=agree >= 0.6, typical=mode)
        else:
            x = np.array(chosen, dtype=float)
            spread = float(x.std(ddof=0) / (float(d["high"]) - float(d["low"])))
            row.update(measure="std / range", score=spread, stable=spread <= 0.15, typical=float(np.median(x)))
        rows.append(row)
    return rows


def walk_forward_efficiency(folds: list[FoldResult], stitched_stats: dict) -> dict:
    chosen = [f for f in folds if f.params is not None]
    is_cagr = float(np.mean([f.is_stats["cagr"] for f in chosen])) if chosen else math.nan
    is_obj = float(np.mean([f.is_value for f in chosen])) if chosen else math.nan
    oos_obj = float(np.mean([f.oos_value for f in chosen if math.isfinite(f.oos_value)] or [math.nan]))
    return {
        "wfe": stitched_stats["cagr"] / is_cagr if is_cagr > 0 else math.nan,
        "is_cagr_mean": is_cagr, "oos_cagr": stitched_stats["cagr"],
        "objective_wfe": oos_obj / is_obj if is_obj > 0 else math.nan,
        "is_objective_mean": is_obj, "oos_objective_mean": oos_obj,
        "per_fold": [f.wfe for f in folds],
    }


def verdict(oos: dict, wfe: dict, dsr: dict, pbo: dict, stable: list[dict]) -> dict:
    """A plain-language reading of the numbers: robust, inconclusive or likely overfit."""
    lines = []
    p, d, w = pbo.get("pbo", math.nan), dsr.get("dsr", math.nan), wfe.get("wfe", math.nan)
    psr = dsr.get("psr", math.nan)
    ret, sh = oos.get("total_return", math.nan), oos.get("sharpe", math.nan)
    lines.append(f"Out of sample the strategy returned {ret:+.1%} with a Sharpe of {sh:.2f}"
                 + (" — a loss." if ret <= 0 else "."))
    if math.isfinite(p):
        lines.append(f"PBO {p:.0%}: in that share of the in-sample/out-of-sample splits, the configuration that "
                     "looked best in sample did no better than the median one out of sample"
                     + (" — the optimizer is mostly fitting noise." if p >= 0.5 else "."))
    if math.isfinite(d):
        lines.append(f"Deflated Sharpe ratio {d:.2f}: after accounting for {dsr['n_trials']} configurations tried, "
                     f"the probability that the true out-of-sample Sharpe is positive is {d:.0%}"
                     + (" (below the 95% bar)." if d < 0.95 else "."))
    if math.isfinite(psr):
        lines.append(f"Without deflation (PSR) that probability is {psr:.0%}.")
    lines.append(f"Walk-forward efficiency {w:.2f}: the out-of-sample annual return was {w:.0%} of the in-sample one."
                 if math.isfinite(w) else "Walk-forward efficiency undefined: the in-sample returns were not positive.")
    unstable = [r["param"] for r in stable if r.get("stable") is False]
    if unstable:
        lines.append(f"Unstable across folds: {', '.join(unstable)}.")
    if ret <= 0 or not sh > 0 or (math.isfinite(p) and p >= 0.5):
        level = "likely overfit"
    elif (math.isfinite(p) and p < 0.25) and d >= 0.95 and w >= 0.5:
        level = "robust"
    else:
        level = "inconclusive"
    head = {"robust": "Robust: the edge survives out of sample and the overfitting tests.",
            "inconclusive": "Inconclusive: some evidence of an edge, not enough to rule out luck.",
            "likely overfit": "Likely overfit or no edge: do not trade these parameters."}[level]
    return {"level": level, "summary": head, "lines": lines}


# --------------------------------------------------------------------------------------------- analysis
@dataclass
class StitchedRun:
    """The folds' OOS runs of an order strategy chained into one curve (each fold compounds on the last)."""

    index: pd.DatetimeIndex
    initial_equity: float
    equity: np.ndarray
    trades: pd.DataFrame
    stats: dict
    integrity: dict
    timings: dict = field(default_factory=dict)

    @property
    def final_equity(self) -> float:
        return float(self.equity[-1])


def _stitch(ctx, folds: list[FoldResult]):
    ev = ctx.evaluator
    start, end = ctx.folds[0].oos_start, ctx.folds[-1].oos_end
    if ev.spec.kind == "order":
        stitched = _chain(ctx, folds)
    else:
        sig = Signals(*(np.concatenate([f.oos_signals[i] for f in folds]) for i in range(len(Signals._fields))))
        stitched = ev.full_run(None, start, end, signals=sig)
    growth = np.cumprod([f.oos_stats["total_return"] + 1.0 for f in folds])
    at = np.array([f.fold.oos_end - start - 1 for f in folds])
    if not np.allclose(stitched.equity[at] / stitched.initial_equity, growth, rtol=1e-9):
        raise AssertionError("the stitched OOS run does not compound the folds' OOS returns")
    return stitched, ev.bars.iloc[start:end]


def _chain(ctx, folds: list[FoldResult]) -> StitchedRun:
    """Chain order-strategy fold runs: fold k's equity, positions and trade P&L scaled by the growth before it
    (the strategies size by equity, so this is what one continuous account would have done)."""
    ev = ctx.evaluator
    init = float(ev.engine["initial_equity"])
    eq, pos, bars, trades = [], [], [], []
    scale, offset, ok, flags = 1.0, 0, True, []
    for f in folds:
        m, r = f.fold.oos_bars, f.oos_run
        if r is None:
            e, p, fb, tr = np.full(m, init), np.zeros(m), np.empty(0, dtype=np.int64), None
        else:
            e, p, fb, tr = r.equity, r.position, np.asarray(r.fills["bar"], dtype=np.int64), r.trades.copy()
            ok &= bool(r.integrity["ok"])
            flags += [f"fold {f.fold.k + 1}: {x}" for x in r.integrity["flags"]]
        eq.append(e * scale)
        pos.append(p * scale)
        bars.append(fb + offset)
        if tr is not None and len(tr):
            for col in ("pnl", "fees", "size"):
                tr[col] = tr[col] * scale
            trades.append(tr)
        scale *= float(e[-1]) / init
        offset += m
    equity = np.concatenate(eq)
    if trades:
        table = pd.concat(trades, ignore_index=True)
    else:
        no_time = pd.DatetimeIndex([], tz="UTC")
        table = pd.DataFrame({"entry_time": no_time, "exit_time": no_time, "pnl": np.empty(0)})
    stats = compute_stats(equity, init, ev.timeframe, table["pnl"].to_numpy(dtype=float), np.concatenate(pos),
                          np.concatenate(bars))
    start, end = ctx.folds[0].oos_start, ctx.folds[-1].oos_end
    return StitchedRun(index=ev.bars.index[start:end], initial_equity=init, equity=equity, trades=table, stats=stats,
                       integrity={"ok": ok, "flags": flags})


def _sensitivity(ctx, folds: list[FoldResult]) -> dict | None:
    from traderagent.config import ConfigValidationError

    last = next((f for f in reversed(folds) if f.best_values is not None), None)
    spec = ctx.spec
    if last is None or (spec.sensitivity.points < 2):
        return None
    ev, fold = ctx.evaluator, last.fold

    def score_fn(values: dict) -> tuple[float, bool]:
        try:
            params = ev.make_params(values)
        except ConfigValidationError:
            return math.nan, False
        return score(ev.evaluate(params, fold.is_start, fold.is_end).stats, spec.objective, spec.min_trades)

    s = spec.sensitivity
    out = sensitivity(score_fn, dict(last.best_values), ctx.space, s.points, s.pairs, s.grid)
    out["fold"] = fold.k
    return out


def analyze(ctx, trials: int, progress: bool = False) -> StudyResult:
    """Select, run OOS, stitch, and compute every robustness statistic (see the module docstring)."""
    from traderagent.backtest.runner import code_version
    from traderagent.optimize.study import redact

    t0 = time.perf_counter()
    spec = ctx.spec
    folds = [analyze_fold(ctx, k, trials) for k in range(len(ctx.folds))]
    if not any(f.params is not None for f in folds):
        raise UserError(f"no fold has a trial with at least {spec.min_trades} trades; lower min_trades in "
                        f"{ctx.source} or widen the search")
    t1 = time.perf_counter()
    stitched, oos_bars = _stitch(ctx, folds)
    init = stitched.initial_equity
    buy_hold = init * oos_bars["close"].to_numpy() / float(oos_bars["open"].iloc[0])
    t2 = time.perf_counter()
    ns = stitched.index.as_unit("ns").asi8
    daily = daily_returns(stitched.equity, ns, init)
    entry_bar = stitched.index.get_indexer(pd.DatetimeIndex(stitched.trades["entry_time"]))
    t_ret = trade_returns(entry_bar, stitched.trades["pnl"].to_numpy(), stitched.equity, init)
    mc = montecarlo.monte_carlo(t_ret, daily, spec.monte_carlo.runs, spec.monte_carlo.block_days, spec.seed)
    t3 = time.perf_counter()
    sens = _sensitivity(ctx, folds)
    t4 = time.perf_counter()
    all_sr = np.concatenate([f.trial_sharpes for f in folds])
    n_total = int(sum(f.n_configs for f in folds))
    sr = overfitting.sharpe(daily)
    skew, kurt = overfitting.moments(daily)
    var = float(all_sr.var(ddof=1)) if all_sr.size > 1 else math.nan
    dsr = {"dsr": overfitting.deflated_sharpe_ratio(sr, len(daily), n_total, var, skew, kurt),
           "psr": overfitting.probabilistic_sharpe_ratio(sr, len(daily), skew, kurt),
           "sharpe_daily": sr, "sharpe_annual": sr * math.sqrt(365.0), "n_trials": n_total, "n_days": len(daily),
           "trial_sharpe_var": var, "sr0_daily": overfitting.expected_max_sharpe(var, n_total),
           "skew": skew, "kurtosis": kurt, "per_fold": [f.is_dsr for f in folds]}
    pbos = [f.pbo for f in folds if f.pbo is not None]
    pbo = {"pbo": overfitting.pooled_pbo(pbos), "n_blocks": spec.pbo_blocks,
           "per_fold": [f.pbo.pbo if f.pbo else None for f in folds],
           "prob_oos_loss": float(np.mean([p.prob_oos_loss for p in pbos])) if pbos else math.nan}
    t5 = time.perf_counter()
    wfe = walk_forward_efficiency(folds, stitched.stats)
    stab = stability(folds, ctx.space)
    info = {"timeframe": ctx.timeframe, "data_file": str(ctx.data_path), "data_sha256": ctx.data_sha256,
            "spec_hash": ctx.hash, "storage": redact(ctx.storage_url), "trials_per_fold": trials,
            "code_version": code_version(), "source": ctx.source, "fees": ctx.evaluator.costs.fees,
            "slippage": ctx.evaluator.costs.slippage, "engine": ctx.evaluator.engine,
            "space": ctx.space, "fixed": spec.params, "folds": spec.folds.model_dump()}
    result = StudyResult(spec=spec, info=info, folds=folds, stitched=stitched, oos_bars=oos_bars, buy_hold=buy_hold,
                         wfe=wfe, stability=stab, monte_carlo=mc, sensitivity=sens, dsr=dsr, pbo=pbo,
                         verdict=verdict(stitched.stats, wfe, dsr, pbo, stab))
    result.timings.update(analysis={"folds_oos": t1 - t0, "stitch": t2 - t1, "monte_carlo": t3 - t2,
                                    "sensitivity": t4 - t3, "overfitting": t5 - t4,
                                    "total": time.perf_counter() - t0},
                          engine=stitched.timings)
    return result
