"""The optuna study behind each walk-forward fold, and the key that identifies a parameter set across folds.

Shared by the optimizer (`walkforward`) and the analysis (`analysis`), which never import each other's modules.
"""

from __future__ import annotations

import json
from typing import Any

from traderagent.errors import UserError
from traderagent.optimize.study import fold_study_name, redact, stale_study_message


def params_key(values: dict) -> tuple:
    return tuple(sorted((k, json.dumps(v)) for k, v in values.items()))


def fold_study(ctx: Any, k: int, create: bool = True):
    """The optuna study of fold k of a prepared study context (created if absent); refuses, in one line naming
    what changed, a study whose trials were made under another fingerprint (`study.study_fingerprint`)."""
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
        study.set_user_attr("fingerprint", ctx.fingerprint)
        study.set_user_attr("fold", ctx.folds[k].as_dict())
    elif have != ctx.hash:
        raise UserError(stale_study_message(name, redact(ctx.storage_url), ctx.source,
                                            study.user_attrs.get("fingerprint"), ctx.fingerprint))
    return study


def discard_trials(ctx: Any) -> int:
    """Delete the study's fold studies from the storage (`--fresh`); returns how many trials they held."""
    import optuna

    names = {fold_study_name(ctx.spec.name, k) for k in range(len(ctx.folds))}
    dropped = 0
    for summary in optuna.get_all_study_summaries(storage=ctx.storage, include_best_trial=False):
        if summary.study_name in names:
            dropped += summary.n_trials
            optuna.delete_study(study_name=summary.study_name, storage=ctx.storage)
    return dropped
