"""The contract both drivers share: the vectorized backtest (`traderagent.backtest`) and the live stepper
(`traderagent.live`) import it, and it imports neither, nor any strategy.

  signals.py    the `Signals` format of signal strategies
  orders_nb.py  order intents, the desired book, THE intrabar fill rule (numba)
  records.py    fill records, sides and exit reasons
  costs.py      fees and slippage
  state.py      what every order strategy's state has in common (bytes round trip, equality by value)
  spec.py       the strategy SPEC (`StrategySpec`, `order_spec`, `OrderMachine`)
"""
