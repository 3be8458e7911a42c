"""The optuna study behind each walk-forward fold, and the key that identifies a parameter set across folds.

Shared by the optimizer (`walkforward`) and the analysis (`analysis`), which never import each other's modules.
"""

from __future__ import annotations

import json
from typing import Any

from traderagent.errors import UserError
from traderagent.optimize.study import fold_study_name, redact


def params_key(values: dict) -> tuple:
    return tuple(sorted((k, json.dumps(v)) for k, v in values.items()))


def fold_study(ctx: Any, k: int, create: bool = True):
    """The optuna study of fold k of a prepared study context (created if absent); refuses a study made from a
    different spec."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = fold_study_name(ctx.spec.name, k)
    if create:
        study = optuna.create_study(study_name=name, storage=ctx.storage, direction="maximize",
                                    load_if_exists=True)
    else:
        study = optuna.load_study(study_name=name, storage=ctx.storage)
    have = study.user_attrs.get("spec_hash")
    if have is None:
        study.set_user_attr("spec_hash", ctx.hash)
        study.set_user_attr("fold", ctx.folds[k].as_dict())
    elif have != ctx.hash:
        raise UserError(
            f"study {name!r} in {redact(ctx.storage_url)} was made from a different study file or candle data "
            f"(hash {have} != {ctx.hash}); rename `name:` in {ctx.source} or use another storage"
        )
    return study
