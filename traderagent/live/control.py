"""The control API: plain functions over a running orchestrator (in its process) or over its database (from
another process: the CLI, a bot), returning plain data and validating their inputs.

Reads (status, balance, positions, open orders, pnl, latest report) come from the database, which the runner
writes every bar, so they answer the same in and out of the runner's process. Writes (pause, resume, stop,
switch) go to the orchestrator when it is here, else they are queued in the database (`live_commands`) and the
runner does them at its next candle; `wait` polls for the result.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from traderagent.errors import UserError


class ControlAPI:
    """See the module docstring. `store`: a LiveStore; `orchestrator`: the runner's, when in its process."""

    def __init__(self, store: Any, orchestrator: Any = None, exchange: Any = None, reports: Path | None = None):
        self.store = store
        self.orchestrator = orchestrator
        self.exchange = exchange
        self.reports = reports

    # ------------------------------------------------------------------ reads
    def _instances(self) -> list[dict]:
        return self.store.instances()

    def _check(self, instance: str | None) -> None:
        if instance in (None, "", "all"):
            return
        names = [i["name"] for i in self._instances()]
        if instance not in names:
            raise UserError(f"unknown instance {instance!r}; instances: {', '.join(names) or 'none (nothing ran)'}")

    def status(self) -> dict:
        """Every instance: strategy, market, state, stage, equity, position, open orders, last bar."""
        out = []
        orders = self.store.open_orders()
        for i in self._instances():
            eq = self.store.last_equity(i["name"])
            meta = i["meta"]
            out.append({"instance": i["name"], "strategy": i["config"].get("strategy", i["kind"]),
                        "symbol": i["config"].get("symbol"), "state": i["status"],
                        "stage": int(meta.get("stage", 0)), "stage_share": meta.get("stage_share"),
                        "allocation": meta.get("allocation"),
                        "equity": None if eq is None else eq["equity"],
                        "position": None if eq is None else eq["position"],
                        "last_bar": None if eq is None else eq["time"].isoformat(),
                        "open_orders": sum(1 for o in orders if o.instance == i["name"])})
        return {"instances": out, "count": len(out)}

    def balance(self) -> dict:
        """The account's balances (the exchange's when it is here, else each instance's cash and position)."""
        if self.exchange is not None and hasattr(self.exchange, "balances"):
            return {"source": self.exchange.name, "balances": dict(self.exchange.balances)}
        per = {s["instance"]: {"equity": s["equity"]} for s in self.status()["instances"]}
        return {"source": "instances", "instances": per,
                "total_equity": sum(v["equity"] or 0.0 for v in per.values())}

    def positions(self) -> list[dict]:
        return [{"instance": s["instance"], "symbol": s["symbol"], "position": s["position"], "equity": s["equity"]}
                for s in self.status()["instances"] if s["position"]]

    def open_orders(self, instance: str | None = None) -> list[dict]:
        self._check(instance)
        return [{"client_id": o.client_id, "instance": o.instance, "symbol": o.symbol, "side": o.side,
                 "type": o.type, "amount": o.amount, "price": o.price, "status": o.status, "tag": o.tag}
                for o in self.store.open_orders(None if instance in (None, "", "all") else instance)]

    def pnl(self) -> dict:
        """Per instance and in total: since start (equity - starting capital) and today (since the UTC day's first
        bar)."""
        rows, total_start, total_today = [], 0.0, 0.0
        for i in self._instances():
            eq = self.store.equity_rows(i["name"])
            if not len(eq):
                continue
            deposits = i["meta"].get("deposits", [])  # staged capital moved in (+) or out (-): not profit
            last = float(eq["equity"][-1])
            day = eq["time"][-1] // 86_400_000_000_000
            first_today = eq[eq["time"] // 86_400_000_000_000 == day][0]
            start = i["meta"].get("start_equity")  # the capital it started with (else its first bar's equity)
            since = last - (float(eq["equity"][0]) if start is None else float(start)) - sum(
                a for t, a in deposits if start is not None or t > int(eq["time"][0]))
            today = last - float(first_today["equity"]) - sum(a for t, a in deposits if t > int(first_today["time"]))
            rows.append({"instance": i["name"], "since_start": since, "today": today})
            total_start += since
            total_today += today
        return {"instances": rows, "since_start": total_start, "today": total_today}

    def latest_report(self) -> Path | None:
        folder = self.reports or Path("reports")
        pages = sorted(folder.glob("*.html"), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []
        return pages[-1] if pages else None

    # ------------------------------------------------------------------ writes
    def _do(self, command: str, instance: str | None, args: dict | None = None, wait: float = 0.0) -> dict:
        self._check(instance)
        if self.orchestrator is not None:
            return self.orchestrator.apply(command, instance, args or {})
        cid = self.store.queue_command(command, instance, args or {})
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            got = self.store.command(cid)
            if got and got["status"] != "queued":
                if got["status"] == "failed":
                    raise UserError(got["result"].get("error", f"{command} failed"))
                return got["result"]
            time.sleep(0.2)
        return {"queued": cid, "command": command, "instance": instance or "all"}

    def pause(self, instance: str | None = None, wait: float = 0.0) -> dict:
        return self._do("pause", instance, wait=wait)

    def resume(self, instance: str | None = None, wait: float = 0.0) -> dict:
        return self._do("resume", instance, wait=wait)

    def stop(self, instance: str | None = None, flatten: bool = False, wait: float = 0.0) -> dict:
        return self._do("stop", instance, {"flatten": bool(flatten)}, wait=wait)

    def switch(self, instance: str, strategy: str, wait: float = 0.0) -> dict:
        from traderagent.strategies import registry

        if not instance:
            raise UserError("switch needs an instance")
        registry.get(strategy)  # unknown strategy: one line
        return self._do("switch", instance, {"strategy": strategy}, wait=wait)


def run_commands(store: Any, orchestrator: Any) -> int:
    """Do the commands queued in the database (the runner calls it every candle); returns how many."""
    n = 0
    for c in store.pending_commands():
        try:
            result = orchestrator.apply(c["command"], c["instance"], c["args"])
            store.finish_command(c["id"], True, result)
        except UserError as exc:
            store.finish_command(c["id"], False, {"error": str(exc)})
        n += 1
    return n
