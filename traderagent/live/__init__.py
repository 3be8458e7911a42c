"""The live adapter: the same strategy kernels, one closed bar at a time, against an exchange.

  ports.py        what the runner needs from the world (exchange, clock, candles, notifier), as protocols
  ids.py          deterministic client order ids
  windows.py      trailing candle windows per timeframe (the one resample and alignment code)
  paper.py        the paper exchange: the backtest's fill rule (core.orders_nb) over the orders it holds
  instance.py     one strategy instance: its stepper, orders, reconciliation against the exchange
  runner.py       the loop: each closed bar -> fills, decision, risk guard, orders, one transaction
  replay.py       historical candles through runner + paper exchange, as if they arrived live
  orchestrator.py several instances over one account: lifecycle, regime selector, staged capital
  control.py      the control API (status, balance, positions, orders, pnl, pause/resume/stop, switch)
See docs/live.md.
"""
