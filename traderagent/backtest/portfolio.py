"""Multi-strategy portfolio backtest: every enabled strategy x pair as a sleeve with its own capital.

Plan (`plan_sleeves`): the strategies enabled in the config that are registered; each gets
`orchestrator.capital_allocation[strategy] x initial_equity`, split equally across its pairs. At most
`max_concurrent_strategies` strategies run: the largest allocations first (config order breaks ties); the
rest are skipped with a note. Capital not allocated (or allocated to a skipped strategy) stays in cash.
Every skip is a note in the result, never silent.

Run (`run_portfolio`): each sleeve is an ordinary backtest (signal engine or order engine, with its own
integrity gates) on its own timeframe with only its own cash. Sleeves are then marked on one clock, the
base candles' timeframe: at clock bar t a sleeve holds the cash and position of its newest bar complete at
t's close (`resample.align_indices`, the one alignment rule) valued at the symbol's close of bar t. The
portfolio's equity is the sum of the sleeves plus the unallocated cash.

Portfolio gates (on top of every sleeve's own gates):
  sleeves_sum          the portfolio equity replayed from all sleeves' fills as one ledger (one cash account,
                       one position per symbol) equals the sum of the sleeves plus the reserve on every bar
  allocation           each sleeve starts with exactly its allocation; allocations sum to at most the equity
  own_capital          no sleeve spends another's capital: each sleeve's cash stays >= 0 after every fill and
                       at every bar with only its own starting cash, and each entry's exposure stays within
                       that sleeve's own equity
  max_concurrent       strategies holding a position on the same bar never exceed max_concurrent_strategies
  drawdown             portfolio equity finite and >= 0 (drawdown within [0, 100%])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from traderagent.backtest import nb
from traderagent.backtest.integrity import REL_TOL, too_good_flags
from traderagent.backtest.metrics import JSON_STATS, return_stats, trade_stats
from traderagent.backtest.result import iso_utc, json_safe
from traderagent.core.costs import Costs
from traderagent.data import timeframes
from traderagent.data.resample import align_indices
from traderagent.errors import UserError

PORTFOLIO_GATES = ("sleeves_sum", "allocation", "own_capital", "max_concurrent", "drawdown")


@dataclass(frozen=True)
class SleevePlan:
    strategy: str
    symbol: str
    allocation: float  # fraction of the portfolio's initial equity
    initial_equity: float


@dataclass
class Sleeve:
    """One strategy on one pair: its own backtest and its marks on the portfolio clock."""

    plan: SleevePlan
    result: Any  # BacktestResult (its own timeframe)
    params: Any
    timeframe: str
    equity: np.ndarray = field(default_factory=lambda: np.zeros(0))  # on the clock
    cash: np.ndarray = field(default_factory=lambda: np.zeros(0))
    position: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def name(self) -> str:
        return f"{self.plan.strategy}:{self.plan.symbol}"


@dataclass
class PortfolioResult:
    index: pd.DatetimeIndex  # the clock
    timeframe: str
    initial_equity: float
    reserve: float  # cash no sleeve owns
    equity: np.ndarray
    sleeves: list[Sleeve]
    notes: list[str]
    stats: dict
    integrity: dict
    concurrency: np.ndarray  # strategies holding a position per clock bar
    max_concurrent: int
    prices: dict[str, np.ndarray] = field(default_factory=dict)  # close per symbol on the clock
    references: list[dict] = field(default_factory=list)  # standalone runs shown beside the portfolio
    regimes: dict[str, np.ndarray] = field(default_factory=dict)  # regime code per symbol on the clock
    selector: Any = None  # the SelectorConfig the sleeves were routed by (None: every sleeve in every regime)

    def equity_series(self) -> pd.Series:
        return pd.Series(self.equity, index=self.index, name="portfolio")

    def sleeve_frame(self) -> pd.DataFrame:
        return pd.DataFrame({s.name: s.equity for s in self.sleeves}, index=self.index)

    def group_equity(self, key: Callable[[Sleeve], str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for s in self.sleeves:
            out[key(s)] = out.get(key(s), 0.0) + s.equity
        return out

    def correlation(self) -> pd.DataFrame:
        """Pearson correlation of the sleeves' daily returns (UTC days, last equity of each day)."""
        frame = self.sleeve_frame()
        if frame.empty:
            return frame
        daily = frame.resample("1D").last().pct_change().iloc[1:]
        return daily.corr()

    def to_json_dict(self) -> dict:
        corr = self.correlation()
        ann = timeframes.bars_per_year(self.timeframe)
        return json_safe({
            "start": iso_utc(self.index[0]), "end": iso_utc(self.index[-1]), "timeframe": self.timeframe,
            "initial_equity": self.initial_equity, "final_equity": float(self.equity[-1]), "reserve": self.reserve,
            "max_concurrent_strategies": self.max_concurrent, "notes": self.notes,
            "selector": self.selector.model_dump(mode="json") if self.selector is not None else None,
            "stats": {k: self.stats.get(k) for k in (*JSON_STATS, "max_drawdown_duration_days", "calmar")},
            "integrity": self.integrity,
            "sleeves": [_sleeve_json(s) for s in self.sleeves],
            "strategies": {k: _curve_stats(v, self._init_of(lambda s, k=k: s.plan.strategy == k), self.timeframe)
                           for k, v in self.group_equity(lambda s: s.plan.strategy).items()},
            "symbols": {k: _curve_stats(v, self._init_of(lambda s, k=k: s.plan.symbol == k), self.timeframe)
                        for k, v in self.group_equity(lambda s: s.plan.symbol).items()},
            "correlation": {"sleeves": list(corr.columns), "matrix": corr.to_numpy().tolist()},
            "max_concurrent_observed": int(self.concurrency.max()) if len(self.concurrency) else 0,
            "regimes": {sym: _regime_json(self, sym, ann) for sym in self.regimes},
            "references": [{k: v for k, v in r.items() if k not in ("equity", "result")} for r in self.references],
        })

    def _init_of(self, pred: Callable[[Sleeve], bool]) -> float:
        return float(sum(s.plan.initial_equity for s in self.sleeves if pred(s)))


def _curve_stats(equity: np.ndarray, init: float, tf: str) -> dict:
    st = return_stats(equity, init, tf)
    return {"initial_equity": init, "final_equity": float(equity[-1]), **st}


def _sleeve_json(s: Sleeve) -> dict:
    r = s.result
    return {
        "strategy": s.plan.strategy, "symbol": s.plan.symbol, "timeframe": s.timeframe,
        "allocation": s.plan.allocation, "initial_equity": s.plan.initial_equity, "final_equity": r.final_equity,
        "stats": {k: r.stats.get(k) for k in JSON_STATS},
        "integrity": {"ok": r.integrity["ok"], "checks": r.integrity["checks"], "flags": r.integrity["flags"]},
        "trades_sha256": r.trades_sha256,
    }


def _regime_json(p: PortfolioResult, sym: str, ann: float) -> dict:
    from traderagent.strategies import regime as rg

    codes = p.regimes[sym]
    out = {"distribution": rg.distribution(codes), "spells": rg.spells(codes), "per_regime": {}}
    price = p.prices[sym]
    out["per_regime"]["buy_and_hold"] = rg.per_regime_returns(price, codes, float(price[0]), ann)
    for s in p.sleeves:
        if s.plan.symbol == sym:
            out["per_regime"][s.plan.strategy] = rg.per_regime_returns(s.equity, codes, s.plan.initial_equity, ann)
    for ref in p.references:
        if ref["symbol"] == sym:
            out["per_regime"][ref["name"]] = rg.per_regime_returns(ref["equity"], codes, ref["initial_equity"], ann)
    return out


# ------------------------------------------------------------------------------------------------- plan
def plan_sleeves(cfg, registered: list[str] | None = None) -> tuple[list[SleevePlan], list[str]]:
    """Sleeves for the enabled, registered strategies (module docstring) and the notes on what was skipped."""
    from traderagent.strategies import registry

    registered = registry.names() if registered is None else registered
    total = float(cfg.backtest.initial_equity)
    alloc = cfg.orchestrator.capital_allocation.as_dict()
    notes: list[str] = []
    order = list(cfg.strategies.enabled())
    runnable = []
    for name in order:
        share = alloc.get(name)
        if name not in registered:
            notes.append(f"{name}: enabled in the config but not a registered strategy yet; skipped, its "
                         f"{_pct(share or 0.0)} allocation stays in cash")
        elif not share:
            notes.append(f"{name}: enabled but orchestrator.capital_allocation gives it no capital; skipped")
        else:
            runnable.append(name)
    for name in alloc:
        if name not in order and alloc[name]:
            notes.append(f"{name}: has a {_pct(alloc[name])} allocation but is not enabled; that capital stays in cash")
    cap = int(cfg.orchestrator.max_concurrent_strategies)
    ranked = sorted(runnable, key=lambda k: (-alloc[k], order.index(k)))
    chosen, dropped = ranked[:cap], ranked[cap:]
    for name in dropped:
        notes.append(f"{name}: max_concurrent_strategies is {cap}; skipped (smaller allocation), its "
                     f"{_pct(alloc[name])} allocation stays in cash")
    plans = []
    for name in order:
        if name in chosen:
            pairs = cfg.strategies.enabled()[name].pairs
            for sym in pairs:
                share = alloc[name] / len(pairs)
                plans.append(SleevePlan(name, sym, share, total * share))
    return plans, notes


def _pct(x: float) -> str:
    return f"{x * 100:g}%"


# -------------------------------------------------------------------------------------------------- run
def run_sleeve(spec, params, base: pd.DataFrame, base_tf: str, cfg, initial_equity: float, start=None,
               end=None, costs: Costs | None = None, selector=None):
    """One strategy on one market's base candles with `initial_equity` (what `runner.run_backtest` does,
    without reading files): indicators on all data up to `end`, trading from `start`. -> (result, timeframe).

    With a `selector` (traderagent.strategies.selector.SelectorConfig) the strategy only takes new positions in
    its routed regimes: signal strategies through `gate_signals`, grid and DCA as the hybrid kernel with only
    that machine (their transitions are the selector's)."""
    from traderagent.backtest.runner import run_prepared

    if selector is not None and spec.name in ("grid", "dca"):
        from traderagent.strategies import hybrid

        spec, params = hybrid.SPEC, hybrid.single_machine(spec.name, params, selector)
    signal_filter = None
    if selector is not None and spec.kind == "signal":

        def signal_filter(bars, tf, sig):
            from traderagent.strategies.regime import regime_on_base
            from traderagent.strategies.selector import active_mask, gate_signals

            codes = regime_on_base(bars, tf, selector.regime).to_numpy()
            return gate_signals(sig, active_mask(codes, selector.regimes_of(spec.name)), selector.signal_exit)

    result, _, _, tf = run_prepared(spec, params, base, base_tf, cfg, start, end, costs, initial_equity,
                                    signal_filter=signal_filter)
    return result, tf


def sleeve_params(spec, cfg):
    """The params a strategy runs with inside the portfolio: its config section (or its own hook)."""
    hook = spec.extra.get("params_from_app")
    if hook is not None:
        return hook(cfg)
    section = getattr(cfg.strategies, spec.name, None)
    return section if section is not None else spec.params_model()


def _clock(bases: Mapping[str, pd.DataFrame], start, end) -> pd.DatetimeIndex:
    from traderagent.backtest.runner import _slice

    index = None
    for df in bases.values():
        sl, start_ts = _slice(df, start, end)
        ix = sl.index if start_ts is None else sl.index[sl.index >= start_ts]
        index = ix if index is None else index.union(ix)
    if index is None or len(index) < 2:
        raise UserError("portfolio: fewer than 2 bars between the start and the end")
    return index


def mark_on_clock(result, sleeve_tf: str, clock: pd.DatetimeIndex, clock_tf: str, price: np.ndarray,
                  init: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(equity, cash, position, visible row) of a sleeve per clock bar: its newest bar complete at the clock bar's
    close, valued at `price` (the symbol's close of the clock bar); before its first bar: init cash, no position."""
    idx = align_indices(clock.as_unit("ns").asi8, clock_tf, result.index.as_unit("ns").asi8, sleeve_tf)
    ok = idx >= 0
    j = np.clip(idx, 0, None)
    cash = np.where(ok, result.cash[j], init)
    pos = np.where(ok, result.position[j], 0.0)
    return cash + pos * price, cash, pos, idx


def run_portfolio(cfg, bases: Mapping[str, pd.DataFrame] | None = None, base_tf: str | None = None, start=None,
                  end=None, references: tuple[str, ...] = (), progress: Callable[[str], None] | None = None,
                  registered: list[str] | None = None, selector=None) -> PortfolioResult:
    """Backtest the config's portfolio on `bases` (symbol -> base candles; default: the candle store).

    `selector` (a SelectorConfig): route every sleeve by regime (see `run_sleeve`); capital stays per sleeve."""
    from traderagent.strategies import registry
    from traderagent.strategies.regime import regime_on_base

    plans, notes = plan_sleeves(cfg, registered)
    if not plans:
        raise UserError("portfolio: no strategy to run (enable a registered strategy and give it a "
                        "capital_allocation); " + "; ".join(notes))
    symbols = list(dict.fromkeys([p.symbol for p in plans]))
    bases, base_tf = _load_bases(symbols, bases, base_tf)
    clock = _clock({s: bases[s] for s in symbols}, start, end)
    prices = {s: bases[s]["close"].reindex(clock).ffill().to_numpy(np.float64) for s in symbols}
    total = float(cfg.backtest.initial_equity)
    sleeves = []
    for plan in plans:
        if progress:
            progress(f"{plan.strategy} {plan.symbol}")
        spec = registry.get(plan.strategy)
        params = sleeve_params(spec, cfg)
        result, tf = run_sleeve(spec, params, bases[plan.symbol], base_tf, cfg, plan.initial_equity, start, end,
                                selector=selector)
        sl = Sleeve(plan, result, params, tf)
        sl.equity, sl.cash, sl.position, _ = mark_on_clock(result, tf, clock, base_tf, prices[plan.symbol],
                                                          plan.initial_equity)
        sleeves.append(sl)
    reserve = total - float(sum(p.initial_equity for p in plans))
    equity = reserve + np.sum([s.equity for s in sleeves], axis=0)
    concurrency = _concurrency(sleeves)
    cap = int(cfg.orchestrator.max_concurrent_strategies)
    integrity = portfolio_integrity(sleeves, clock, base_tf, prices, total, reserve, equity, concurrency, cap)
    stats = return_stats(equity, total, base_tf)
    stats.update(trade_stats(np.concatenate([s.result.trades["pnl"].to_numpy(np.float64) for s in sleeves])))
    stats["exposure"] = float((concurrency > 0).mean())  # share of bars with any sleeve holding a position
    if selector is not None:
        for name in dict.fromkeys(p.strategy for p in plans):
            if not selector.regimes_of(name):
                notes.append(f"{name}: no regime routes to it; it takes no new positions")
            elif name not in ("grid", "dca") and registry.get(name).kind != "signal":
                notes.append(f"{name}: an order strategy the selector cannot route; it runs in every regime")
    regimes = {}
    for sym in symbols:
        full = regime_on_base(bases[sym], base_tf, selector.regime if selector is not None else None)
        regimes[sym] = full.reindex(clock).ffill().fillna(-1).to_numpy(np.int64)
    out = PortfolioResult(clock, base_tf, total, reserve, equity, sleeves, notes, stats, integrity, concurrency, cap,
                          prices=prices, regimes=regimes, selector=selector)
    for name in references:
        out.references.extend(_reference_runs(name, symbols, bases, base_tf, cfg, start, end, clock, prices, notes,
                                              progress))
    for sym in symbols:
        out.references.append(buy_and_hold(sym, bases[sym], clock, prices[sym], total, cfg))
    return out


def _load_bases(symbols, bases, base_tf):
    from traderagent.data.io import infer_timeframe

    if bases is None:
        from traderagent.backtest.runner import read_base

        loaded = {s: read_base(None, s) for s in symbols}
        bases = {s: v[0] for s, v in loaded.items()}
    missing = [s for s in symbols if s not in bases]
    if missing:
        raise UserError(f"portfolio: no candles for {', '.join(missing)}; download them with `traderagent data "
                        f"download --symbol {missing[0]} --timeframe 15m`")
    tfs = {s: timeframes.normalize(base_tf) if base_tf else infer_timeframe(bases[s]) for s in symbols}
    if len(set(tfs.values())) != 1:
        listing = ", ".join(f"{s} {tf}" for s, tf in tfs.items())
        raise UserError(f"portfolio: every pair needs candles of the same timeframe (got {listing})")
    return bases, next(iter(tfs.values()))


def _reference_runs(name, symbols, bases, base_tf, cfg, start, end, clock, prices, notes, progress) -> list[dict]:
    from traderagent.strategies import registry

    if name not in registry.names():
        notes.append(f"{name}: asked for as a reference but not a registered strategy yet; not shown")
        return []
    spec = registry.get(name)
    params = sleeve_params(spec, cfg)
    total = float(cfg.backtest.initial_equity)
    out = []
    for sym in symbols:
        if progress:
            progress(f"{name} {sym} (reference)")
        result, tf = run_sleeve(spec, params, bases[sym], base_tf, cfg, total, start, end)
        eq = mark_on_clock(result, tf, clock, base_tf, prices[sym], total)[0]
        out.append({"name": name, "symbol": sym, "timeframe": tf, "initial_equity": total, "equity": eq,
                    "result": result, "final_equity": result.final_equity,
                    "stats": {k: result.stats.get(k) for k in JSON_STATS},
                    "integrity": {"ok": result.integrity["ok"], "checks": result.integrity["checks"],
                                  "flags": result.integrity["flags"]}})
    return out


def buy_and_hold_equity(first_open: float, price: np.ndarray, equity0: float, fees: float,
                        slippage: float) -> np.ndarray:
    """Equity of `equity0` spent at `first_open` (plus slippage, plus the fee) and held, marked at each `price`."""
    units = equity0 / (first_open * (1 + slippage) * (1 + fees))
    return units * np.asarray(price, dtype=float)


def buy_and_hold(sym: str, base: pd.DataFrame, clock: pd.DatetimeIndex, price: np.ndarray, equity0: float,
                 cfg) -> dict:
    """All equity bought at the first clock bar's open (+ slippage, + fee) and held: the market's reference."""
    bt = cfg.backtest
    o = float(base["open"].reindex(clock).to_numpy()[0])
    eq = buy_and_hold_equity(o, price, equity0, bt.fees, bt.slippage)
    st = return_stats(eq, equity0, timeframes.normalize(_infer(clock)))
    return {"name": "buy_and_hold", "symbol": sym, "timeframe": _infer(clock), "initial_equity": equity0,
            "equity": eq, "final_equity": float(eq[-1]), "stats": {k: st.get(k) for k in JSON_STATS if k in st},
            "integrity": None}


def _infer(clock: pd.DatetimeIndex) -> str:
    step = int(np.median(np.diff(clock.as_unit("ns").asi8))) // 1_000_000_000
    for tf in ("1m", "5m", "15m", "30m", "1h", "4h", "1d"):
        if timeframes.seconds(tf) == step:
            return tf
    return "15m"


def _concurrency(sleeves: list[Sleeve]) -> np.ndarray:
    by_strategy: dict[str, np.ndarray] = {}
    for s in sleeves:
        held = s.position != 0.0
        by_strategy[s.plan.strategy] = by_strategy.get(s.plan.strategy, np.zeros(len(held), bool)) | held
    return np.sum(list(by_strategy.values()), axis=0).astype(np.int64) if by_strategy else np.zeros(0, np.int64)


# ---------------------------------------------------------------------------------------------- gates
def portfolio_integrity(sleeves: list[Sleeve], clock: pd.DatetimeIndex, clock_tf: str, prices: dict[str, np.ndarray],
                        total: float, reserve: float, equity: np.ndarray, concurrency: np.ndarray,
                        max_concurrent: int) -> dict:
    """The portfolio gates (module docstring) plus every sleeve's own verdict; never raises."""
    checks = {
        "sleeves_sum": _gate_sum(sleeves, clock, clock_tf, prices, total, equity),
        "allocation": _gate_allocation(sleeves, total, reserve),
        "own_capital": _gate_own_capital(sleeves),
        "max_concurrent": _gate_concurrent(concurrency, max_concurrent, clock),
        "drawdown": _gate_drawdown(equity, total),
    }
    checks = {k: {"ok": bool(v[0]), "detail": v[1]} for k, v in checks.items()}
    sleeves_ok = {s.name: bool(s.result.integrity["ok"]) for s in sleeves}
    n_fills = int(sum(len(s.result.fills) for s in sleeves))
    flags = too_good_flags(equity, total, clock_tf, n_fills)
    ok = all(v["ok"] for v in checks.values()) and all(sleeves_ok.values())
    return {"ok": ok, "checks": checks, "sleeves": sleeves_ok, "flags": flags}


def _gate_sum(sleeves, clock, clock_tf, prices, total, equity) -> tuple[bool, str]:
    """Replay every fill of every sleeve into one account on the clock; compare with the sleeves' sum."""
    n = len(clock)
    flows = np.zeros(n)
    units = {sym: np.zeros(n) for sym in prices}
    for s in sleeves:
        f = s.result.fills
        if not len(f):
            continue
        idx = align_indices(clock.as_unit("ns").asi8, clock_tf, s.result.index.as_unit("ns").asi8, s.timeframe)
        at = np.searchsorted(idx, f["bar"], side="left")  # first clock bar that sees the fill's bar complete
        inside = at < n
        np.add.at(flows, at[inside], (f["side"] * f["size"] * f["price"] + f["fee"])[inside])
        np.add.at(units[s.plan.symbol], at[inside], (f["side"] * f["size"])[inside])
    cash = total - np.cumsum(flows)
    ledger = cash + sum(np.cumsum(units[sym]) * prices[sym] for sym in prices)
    tol = REL_TOL * np.maximum(np.maximum(np.abs(ledger), np.abs(equity)), total)
    bad = ~(np.abs(ledger - equity) <= tol)
    if bad.any():
        i = int(np.argmax(bad))
        return False, (f"bar {i} ({iso_utc(clock[i])}): portfolio ledger {ledger[i]:.10g} != sum of sleeves "
                       f"{equity[i]:.10g}")
    n_fills = sum(len(s.result.fills) for s in sleeves)
    return True, (f"{n_fills} fills of {len(sleeves)} sleeves replayed as one account equal the sum of the "
                  f"sleeves on all {n} bars (final {equity[-1]:.10g})")


def _gate_allocation(sleeves, total, reserve) -> tuple[bool, str]:
    for s in sleeves:
        want = s.plan.allocation * total
        got = s.result.initial_equity
        if not math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-9):
            return False, f"{s.name}: starts with {got:.10g}, its allocation is {want:.10g}"
    used = float(sum(s.plan.initial_equity for s in sleeves))
    if used > total * (1 + 1e-12) or reserve < -1e-9 * total:
        return False, f"sleeves start with {used:.10g} in total, more than the portfolio's {total:.10g}"
    parts = ", ".join(f"{s.name} {s.plan.allocation:.4g}" for s in sleeves)
    return True, f"sleeves start with their allocations ({parts}); {reserve:.10g} unallocated stays in cash"


def _gate_own_capital(sleeves) -> tuple[bool, str]:
    worst_name, worst = "", math.inf
    for s in sleeves:
        r = s.result
        init = float(r.initial_equity)
        checks = r.integrity["checks"]
        if not checks.get("cash_exposure", {}).get("ok", False):
            return False, f"{s.name}: {checks.get('cash_exposure', {}).get('detail', 'cash/exposure gate missing')}"
        cash_bar = np.asarray(r.cash)
        cash_fill = nb.replay_ledger_nb(r.fills, len(r.cash), init)[2] if len(r.fills) else cash_bar
        low = float(min(cash_bar.min(), cash_fill.min())) if len(cash_fill) else float(cash_bar.min())
        if low < -REL_TOL * init:
            return False, f"{s.name}: cash {low:.10g} < 0 with its own {init:.10g}: it would need another sleeve's cash"
        if low / init < worst:
            worst_name, worst = s.name, low / init
    return True, (f"every sleeve's cash stays >= 0 on its own capital (lowest: {worst_name} at {worst:.4g} of its "
                  "start) and its entries stay within its own equity")


def _gate_concurrent(concurrency, cap, clock) -> tuple[bool, str]:
    if not len(concurrency):
        return True, "no sleeves"
    peak = int(concurrency.max())
    if peak > cap:
        i = int(np.argmax(concurrency > cap))
        return False, f"bar {i} ({iso_utc(clock[i])}): {int(concurrency[i])} strategies hold positions > {cap}"
    return True, f"at most {peak} strategies hold positions at once (limit {cap})"


def _gate_drawdown(equity, total) -> tuple[bool, str]:
    if not np.isfinite(equity).all() or (equity < 0).any():
        i = int(np.argmax(~np.isfinite(equity) | (equity < 0)))
        return False, f"bar {i}: portfolio equity {equity[i]:.10g}"
    dd = float(nb.drawdown_stats_1d_nb(np.ascontiguousarray(equity), total)[0])
    return True, f"max drawdown {dd:.6g} within [0, 1]"


def read_symbol_bases(symbols: list[str], data_dir: str | Path | None = None) -> dict[str, pd.DataFrame]:
    """Base candles per symbol from the store (or `data_dir` with files named like BTC_USDT-15m.csv.gz)."""
    from traderagent.backtest.runner import read_base

    out = {}
    for s in symbols:
        if data_dir is None:
            out[s] = read_base(None, s)[0]
        else:
            stem = s.replace("/", "_")
            found = [f for tf in ("15m", "5m", "1m", "30m", "1h", "4h", "1d")
                     for f in sorted(Path(data_dir).glob(f"{stem}-{tf}.*"))]
            if not found:
                raise UserError(f"portfolio: no candle file for {s} in {data_dir} (expected e.g. {stem}-15m.csv.gz)")
            out[s] = read_base(found[0], s)[0]
    return out
