"""The orchestrator: the config's strategies as instances over one account, their lifecycle and their capital.

Instances are planned exactly as the portfolio backtest plans its sleeves (`backtest.portfolio.plan_sleeves`):
every enabled, registered strategy with a `capital_allocation`, split equally over its pairs, at most
`max_concurrent_strategies` strategies (largest allocations first). With `orchestrator.adaptive` the selector
routes them by market regime with the backtest's own rules: grid and DCA run as the hybrid's single machine,
signal strategies take entries only in their regimes (`strategies.selector.gate_signals`).

Lifecycle, persisted: idle -> active -> paused -> stopped. Paused keeps the position and the orders that protect
or close it, places nothing that opens or adds; resume continues; stop cancels the instance's orders and, with
`flatten`, closes its position at the next open (the risk guard's flatten order, booked by the strategy).

Staged capital (`orchestrator.staging`): an instance starts at the first stage's share of its allocation; after
`min_days` UTC days at a stage without a breach it moves to the next; a breach (drawdown since the stage began
above `max_drawdown`, or an order error rate above `max_error_rate`) steps it back one stage. Each move is an
event; the stage is persisted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from traderagent.core.stepper import OrderStepper, SignalStepper
from traderagent.errors import UserError
from traderagent.live.instance import Instance
from traderagent.live.ports import Event

LIFECYCLE = ("idle", "active", "paused", "stopped")


@dataclass(frozen=True)
class InstancePlan:
    name: str
    strategy: str
    symbol: str
    allocation: float  # fraction of the account's equity
    capital: float  # the allocation in quote (all stages)


def instance_name(strategy: str, symbol: str) -> str:
    return f"{strategy}-{symbol.replace('/', '').lower()}"


def plan_instances(cfg: Any, equity: float) -> tuple[list[InstancePlan], list[str]]:
    """The instances of a config over an account of `equity` (the portfolio backtest's planning rules)."""
    from traderagent.backtest.portfolio import plan_sleeves

    plans, notes = plan_sleeves(cfg)
    return [InstancePlan(instance_name(p.strategy, p.symbol), p.strategy, p.symbol, p.allocation,
                         equity * p.allocation) for p in plans], notes


class GatedSignalStepper(SignalStepper):
    """A signal strategy routed by regime (the live form of `gate_signals`): entries only while the regime at the
    bar's close is one of the strategy's; with `signal_exit: close`, an exit at the first bar after a spell."""

    def __init__(self, *args: Any, selector: Any, **kw: Any):
        super().__init__(*args, **kw)
        self.selector = selector
        self.regimes = selector.regimes_of(self.spec.name)

    def windows(self) -> dict[str, int]:
        from traderagent.data import timeframes
        from traderagent.strategies import regime as rg

        out = dict(self.spec.windows(self.params))
        rtf = timeframes.normalize(self.selector.regime.timeframe)
        out[rtf] = max(out.get(rtf, 0), rg.warmup_bars(self.selector.regime))
        return out

    def decide(self, bars_by_tf: dict) -> tuple:
        from traderagent.data import timeframes
        from traderagent.data.resample import align_indices
        from traderagent.strategies import regime as rg
        from traderagent.strategies.selector import active_mask

        el, xl, es, xs, stop, target, risk = super().decide(bars_by_tf)
        base_tf = self.spec.base_timeframe(self.params)
        rtf = timeframes.normalize(self.selector.regime.timeframe)
        rbars = bars_by_tf[rtf].drop(columns="n_bars", errors="ignore")
        codes = rg.run_kernel(rbars, self.selector.regime)[0] if len(rbars) else np.zeros(0, dtype=np.int64)
        base = bars_by_tf[base_tf]
        idx = align_indices(base.index[-2:].as_unit("ns").asi8, base_tf, rbars.index.as_unit("ns").asi8, rtf)
        at = np.where(idx >= 0, codes[np.clip(idx, 0, None)] if len(codes) else -1, -1)
        active = active_mask(at, self.regimes)
        now, before = bool(active[-1]), bool(active[0]) if len(active) > 1 else False
        el, es = bool(el) and now, bool(es) and now
        if self.selector.signal_exit == "close" and before and not now:
            xl, xs = True, True
        return el, xl, es, xs, stop, target, risk


class Orchestrator:
    """See the module docstring. `equity`: the account's quote equity the allocations are shares of."""

    def __init__(self, cfg: Any, store: Any, notifier: Any, equity: float, costs: Any, account: str = "ta",
                 exchange_name: str = "paper"):
        self.cfg = cfg
        self.store = store
        self.notifier = notifier
        self.equity = float(equity)
        self.costs = costs
        self.account = account
        self.exchange_name = exchange_name
        self.plans, self.notes = plan_instances(cfg, self.equity)
        self.instances: dict[str, Instance] = {}
        self.day: int | None = None

    # ------------------------------------------------------------------ instances
    def build(self) -> list[Instance]:
        from traderagent.strategies import registry

        if not self.plans:
            raise UserError("live: no strategy to run (enable a registered strategy and give it a "
                            "capital_allocation); " + "; ".join(self.notes))
        for plan in self.plans:
            self.instances[plan.name] = self._instance(plan, registry.get(plan.strategy))
        return list(self.instances.values())

    def _instance(self, plan: InstancePlan, spec: Any) -> Instance:
        from traderagent.backtest.portfolio import sleeve_params

        cfg = self.cfg
        params = sleeve_params(spec, cfg)
        stages = cfg.orchestrator.staging.stages
        stage0 = plan.capital * stages[0]
        risk, bt = cfg.risk, cfg.backtest
        selector = cfg.orchestrator.selector if cfg.orchestrator.adaptive else None
        if selector is not None and plan.strategy in ("grid", "dca"):
            from traderagent.strategies import hybrid

            spec, params = hybrid.SPEC, hybrid.single_machine(plan.strategy, params, selector)
        if spec.kind == "signal":
            kw = {"leverage": bt.leverage, "allow_short": bt.allow_short}
            stepper = GatedSignalStepper(spec, params, self.costs, risk, stage0, selector=selector, **kw) \
                if selector is not None else SignalStepper(spec, params, self.costs, risk, stage0, **kw)
        else:
            stepper = OrderStepper(spec, params, self.costs, risk, stage0)
        inst = Instance(plan.name, spec, stepper.params, plan.symbol, stepper, self.store, self.notifier,
                        account=self.account, exchange_name=self.exchange_name, status="active")
        fresh = not inst.restore()
        if fresh:
            inst.meta.update({"stage": 0, "stage_share": stages[0], "stage_since_ns": None, "stage_peak": stage0,
                              "start_equity": stage0,
                              "capital": plan.capital,
                              "allocation": plan.allocation, "strategy": plan.strategy, "errors": 0, "sent": 0})
        return inst

    # ------------------------------------------------------------------ lifecycle
    def get(self, name: str) -> Instance:
        if name not in self.instances:
            raise UserError(f"unknown instance {name!r}; instances: {', '.join(self.instances) or 'none'}")
        return self.instances[name]

    def targets(self, name: str | None) -> list[Instance]:
        return list(self.instances.values()) if name in (None, "", "all") else [self.get(name)]

    def set_status(self, name: str | None, status: str, flatten: bool = False) -> list[str]:
        done = []
        for inst in self.targets(name):
            if inst.status == "stopped" and status != "stopped":
                raise UserError(f"{inst.name} is stopped; a stopped instance does not resume (switch it instead)")
            if status == "active" and inst.status not in ("paused", "idle", "active"):
                continue
            old, inst.status = inst.status, status
            if status == "stopped" and flatten:
                inst.meta["flatten"] = True
            self.store.set_status(inst.name, status, inst.meta)
            if old != status:
                self.notifier.emit(Event("state_change", pd.Timestamp.now(tz="UTC"),
                                         f"{inst.name}: {old} -> {status}" + (" (flatten)" if flatten else ""),
                                         inst.name, {"from": old, "to": status}))
            done.append(inst.name)
        return done

    def switch(self, name: str, strategy: str) -> dict:
        """Stop an instance (closing its position) and start `strategy` on its market with its allocation."""
        from traderagent.strategies import registry

        old = self.get(name)
        spec = registry.get(strategy)
        plan = next(p for p in self.plans if p.name == name)
        new = InstancePlan(instance_name(spec.name, old.symbol), spec.name, old.symbol, plan.allocation, plan.capital)
        if new.name in self.instances:
            raise UserError(f"{new.name} already runs; stop it first or pick another strategy")
        self.set_status(name, "stopped", flatten=True)
        self.plans.append(new)
        self.instances[new.name] = self._instance(new, spec)
        return {"stopped": name, "started": new.name}

    # ------------------------------------------------------------------ staged capital
    def on_bar(self, time: pd.Timestamp) -> None:
        """At each new UTC day: move instances between stages (module docstring)."""
        day = int(time.value // 86_400_000_000_000)
        if self.day is None:
            self.day = day
            for inst in self.instances.values():
                if inst.meta.get("stage_since_ns") is None:
                    inst.meta["stage_since_ns"] = int(time.value)
            return
        if day == self.day:
            return
        self.day = day
        st = self.cfg.orchestrator.staging
        for inst in self.instances.values():
            if inst.status != "active":
                continue
            k = int(inst.meta.get("stage", 0))
            eq = self.store.last_equity(inst.name)
            if eq is None:
                continue
            peak = max(float(inst.meta.get("stage_peak", eq["equity"])), float(eq["equity"]))
            inst.meta["stage_peak"] = peak
            dd = 1.0 - float(eq["equity"]) / peak if peak > 0 else 0.0
            sent = max(int(inst.meta.get("sent", 0)), 1)
            err = int(inst.meta.get("errors", 0)) / sent
            since = int(inst.meta.get("stage_since_ns") or time.value)
            days = (time.value - since) / 86_400e9
            if (dd > st.max_drawdown or err > st.max_error_rate) and k > 0:
                self._move(inst, k - 1, time, f"breach: drawdown {dd:.2%}, error rate {err:.2%}", alert=True)
            elif days >= st.min_days and k + 1 < len(st.stages) and dd <= st.max_drawdown:
                self._move(inst, k + 1, time, f"{days:.0f} days at {st.stages[k]:.0%} without a breach")

    def _move(self, inst: Instance, k: int, time: pd.Timestamp, why: str, alert: bool = False) -> None:
        st = self.cfg.orchestrator.staging
        old = int(inst.meta.get("stage", 0))
        capital = float(inst.meta.get("capital", 0.0))
        delta = capital * (st.stages[k] - st.stages[old])
        moved = inst.stepper.add_cash(delta)
        inst.meta["deposits"] = [*inst.meta.get("deposits", []), [int(time.value), moved]]
        if "peak" in inst.meta:
            inst.meta["peak"] = float(inst.meta["peak"]) + moved
        inst.meta.update({"stage": k, "stage_share": st.stages[k], "stage_since_ns": int(time.value), "errors": 0,
                          "sent": 0,
                          "stage_peak": float(self.store.last_equity(inst.name)["equity"]) + moved})
        self.notifier.emit(Event("alert" if alert else "stage_change", time,
                                 f"{inst.name}: stage {st.stages[old]:.0%} -> {st.stages[k]:.0%} ({why})", inst.name,
                                 {"from": st.stages[old], "to": st.stages[k], "moved": moved}))

    # ------------------------------------------------------------------ commands
    def apply(self, command: str, instance: str | None, args: dict) -> dict:
        """A control command (from the control API, the CLI or the bot through the database)."""
        if command == "pause":
            return {"paused": self.set_status(instance, "paused")}
        if command == "resume":
            return {"resumed": self.set_status(instance, "active")}
        if command == "stop":
            return {"stopped": self.set_status(instance, "stopped", bool(args.get("flatten")))}
        if command == "switch":
            if not instance or not args.get("strategy"):
                raise UserError("switch needs an instance and a strategy")
            return self.switch(instance, str(args["strategy"]))
        raise UserError(f"unknown command {command!r}; one of pause, resume, stop, switch")
