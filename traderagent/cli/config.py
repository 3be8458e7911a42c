"""`traderagent config check FILE` and `traderagent config show [FILE]`."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "config",
        help="validate a config file or print it with every default filled in",
        description="Validate configuration files (see docs/config.md). Exit 0 if valid, 2 with one line per problem.",
    )
    cmds = p.add_subparsers(dest="config_command", metavar="ACTION")
    check = cmds.add_parser("check", help="validate FILE and print a short summary",
                            description="Validate FILE; print the enabled strategies, allocations and costs.")
    check.add_argument("file", metavar="FILE", help="YAML config file")
    check.set_defaults(func=run_check)
    show = cmds.add_parser("show", help="print the fully-resolved config (defaults filled in) as YAML",
                           description="Print FILE (default: the packaged default.yaml) with every default filled in.")
    show.add_argument("file", metavar="FILE", nargs="?", help="YAML config file (default: the packaged default)")
    show.set_defaults(func=run_show)
    p.set_defaults(func=lambda args: _usage(p))


def _usage(parser) -> int:
    from traderagent.errors import UserError

    raise UserError(f"{parser.prog}: choose an action: check FILE or show [FILE] (see --help)")


def run_check(args) -> int:
    from traderagent.config import load_config

    cfg = load_config(args.file)
    print(f"{args.file}: ok")
    for line in summary(cfg):
        print(line)
    return 0


def run_show(args) -> int:
    import yaml

    from traderagent.config import load_config

    cfg = load_config(args.file)
    print(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False, default_flow_style=False), end="")
    return 0


def summary(cfg) -> list[str]:
    """A few lines a person reads to confirm the file says what they meant."""
    from traderagent.config.units import format_percent as pct

    alloc = cfg.orchestrator.capital_allocation.as_dict()
    enabled = cfg.strategies.enabled()
    disabled = [n for n in cfg.strategies.configured() if n not in enabled]
    running = ", ".join(f"{n} {pct(alloc[n]) if n in alloc else '(no allocation)'}" for n in enabled) or "none"
    bt, risk, live = cfg.backtest, cfg.risk, cfg.live
    return [
        f"strategies   {running}" + (f"; disabled: {', '.join(disabled)}" if disabled else ""),
        f"capital      {pct(cfg.orchestrator.capital_allocation.total)} allocated, "
        f"at most {cfg.orchestrator.max_concurrent_strategies} strategies at once",
        f"backtest     equity {bt.initial_equity:.12g}, fees {pct(bt.fees)} per side, slippage {pct(bt.slippage)} "
        f"per fill, leverage {bt.leverage:g}x, {'long and short' if bt.allow_short else 'long only'}",
        f"risk         max loss per trade {pct(risk.max_loss_per_trade)}, daily loss limit "
        f"{pct(risk.daily_loss_limit)} ({risk.daily_loss_action}), max exposure {pct(risk.max_exposure)}, "
        f"max position {pct(risk.max_position)}",
        f"live         {live.mode} on {live.exchange}: {', '.join(live.symbols)} ({live.timeframe} bars)",
    ]
