"""Validating config models with one-line messages that name the source, the dotted key and the fix.

Generic over any pydantic model (a whole file, one section, a strategy's params); the loader and the models use
it, and it imports neither.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar, get_args

from pydantic import BaseModel, ValidationError

from traderagent.config.units import ERROR_TYPE, show
from traderagent.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class ConfigValidationError(ConfigError):
    """One or more problems in one config source; `problems` holds one line each."""

    def __init__(self, source: str, problems: Sequence[str]):
        self.source = source
        self.problems = tuple(problems)
        n = len(self.problems)
        lines = list(self.problems) if n == 1 else [f"{source}: {n} problems", *self.problems]
        super().__init__("\n".join(lines))


def validate(model_cls: type[M], mapping: Any, source: str = "<config>", prefix: tuple = ()) -> M:
    """Validate a mapping against any config model (a whole file or one section, e.g. a strategy's params);
    messages name `source` and the dotted key, under `prefix` (e.g. ("strategies", "trend_follower"))."""
    if mapping is None:
        mapping = {}
    if not isinstance(mapping, Mapping):
        where = f"{_dotted(prefix)}: " if prefix else ""
        keys = ", ".join(model_cls.model_fields)
        raise ConfigValidationError(source, [f"{source}: {where}must be a mapping of keys ({keys}) "
                                             f"(got {show(mapping)})"])
    secrets = dict(_secret_keys(mapping, prefix))
    problems: list[str] = []
    try:
        return model_cls.model_validate(mapping)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        item_errors = {tuple(e["loc"][:-1]) for e in errors if e["loc"] and isinstance(e["loc"][-1], int)}
        for err in errors:
            loc = tuple(err["loc"])
            if err["type"] == "extra_forbidden" and (*prefix, *loc) in secrets:
                continue  # reported below with the environment variable to use
            if err["type"] == "too_short" and loc in item_errors:
                continue  # pydantic counts only the valid items; the bad ones are reported already
            raw = _raw(mapping, loc, err.get("input"))
            problems.extend(_describe(source, model_cls, prefix, loc, err, raw))
    problems.extend(f"{source}: {_dotted(loc)}: {msg}" for loc, msg in secrets.items())
    raise ConfigValidationError(source, problems)


def replace(model: M, source: str = "<override>", prefix: tuple = (), **changes: Any) -> M:
    """A validated copy of a frozen config model with some fields changed (`model_copy` skips validation);
    bad values raise ConfigValidationError like a bad file would. Only the fields set explicitly are carried
    over (the rest take their defaults again), so changing a grid `preset` re-fills the fields it owns."""
    return validate(type(model), {**model.model_dump(exclude_unset=True), **changes}, source, prefix)


# ------------------------------------------------------------------------------------------ messages
_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
_BOUND_CTX = {"greater_than": "gt", "greater_than_equal": "ge", "less_than": "lt", "less_than_equal": "le"}
_TYPES = {
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be a string",
    "model_type": "must be a mapping of keys",
    "model_attributes_type": "must be a mapping of keys",
    "dict_type": "must be a mapping of keys",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
}


def _dotted(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _raw(mapping: Any, loc: tuple, fallback: Any) -> Any:
    """The value as written in the file at `loc` (validators may have converted err["input"])."""
    node = mapping
    for part in loc:
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list | tuple) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return fallback
    return node


def _number(x: Any) -> str:
    return str(int(x)) if isinstance(x, float) and x.is_integer() else str(x)


def _describe(source: str, root: type[BaseModel], prefix: tuple, loc: tuple, err: Any, raw: Any) -> list[str]:
    """One line per problem in a pydantic error entry (a cross-field error may carry several)."""
    kind, ctx, got = err["type"], err.get("ctx") or {}, show(raw)
    if kind == ERROR_TYPE:
        pairs = ctx.get("problems") or (("", ctx.get("detail", err["msg"])),)
        return [f"{source}: {_dotted((*prefix, *loc, *k.split('.')) if k else (*prefix, *loc))}: {m}"
                for k, m in pairs]
    if kind == "extra_forbidden":
        msg = _unknown_key(root, loc)
    elif kind in _BOUNDS:
        msg = f"must be {_BOUNDS[kind]} {_number(ctx[_BOUND_CTX[kind]])} (got {got})"
    elif kind in _TYPES:
        msg = f"{_TYPES[kind]} (got {got})"
    elif kind == "literal_error":
        msg = f"must be one of {ctx.get('expected')} (got {got})"
    elif kind == "too_short":
        n = ctx.get("min_length")
        msg = f"must list at least {n} item{'s' if n != 1 else ''} (got {ctx.get('actual_length')})"
    elif kind == "too_long":
        msg = f"must list at most {ctx.get('max_length')} items (got {ctx.get('actual_length')})"
    elif kind == "invalid_key":
        loc, msg = loc[:-1], f"key {show(err.get('input'))} must be a name (quote it, or use a word)"
        if not loc and not prefix:
            return [f"{source}: {msg}"]
    elif kind == "missing":
        msg = "required key is missing"
    else:
        msg = f"{err['msg']} (got {got})"
    return [f"{source}: {_dotted((*prefix, *loc))}: {msg}"]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    for a in (annotation, *get_args(annotation)):
        if isinstance(a, type) and issubclass(a, BaseModel):
            return a
    return None


def _unknown_key(root: type[BaseModel], loc: tuple) -> str:
    model: type[BaseModel] | None = root
    for part in loc[:-1]:
        if model is None or part not in model.model_fields:
            model = None
            break
        model = _model_in(model.model_fields[part].annotation)
    if model is None:
        return "unknown key"
    known = list(model.model_fields)
    what = getattr(model, "unknown_key_noun", "key")  # e.g. "strategy" for capital_allocation
    close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
    if close:
        return f"unknown {what}; did you mean {close[0]!r}?"
    return f"unknown {what}; expected one of: {', '.join(known)}"


# ------------------------------------------------------------------------------------------------ secrets
#: Config keys that hold secrets -> the environment variable to use instead.
SECRET_KEYS: dict[str, str] = {
    **dict.fromkeys(("api_key", "apikey", "exchange_api_key", "key_id"), "TRADERAGENT_EXCHANGE_API_KEY"),
    **dict.fromkeys(("api_secret", "secret", "secret_key", "private_key", "exchange_secret"),
                    "TRADERAGENT_EXCHANGE_SECRET"),
    **dict.fromkeys(("passphrase", "exchange_password"), "TRADERAGENT_EXCHANGE_PASSWORD"),
    **dict.fromkeys(("token", "bot_token", "telegram_token", "telegram_bot_token", "access_token"),
                    "TELEGRAM_BOT_TOKEN"),
    **dict.fromkeys(("database_url", "db_url", "dsn", "db_password"), "DATABASE_URL"),
}


def _secret_env(key: str, path: tuple) -> str | None:
    k = key.strip().lower().replace("-", "_")
    if k in ("password", "passwd"):
        return "DATABASE_URL" if path[:1] == ("database",) else "TRADERAGENT_EXCHANGE_PASSWORD"
    return SECRET_KEYS.get(k)


def _secret_keys(node: Any, path: tuple) -> list[tuple[tuple, str]]:
    """(loc, message) for every key anywhere in the mapping that names a secret."""
    found: list[tuple[tuple, str]] = []
    if isinstance(node, Mapping):
        for key, value in node.items():
            loc = (*path, key)
            env = _secret_env(key, path) if isinstance(key, str) else None
            if env:
                found.append((loc, f"secrets are not read from config files; remove this key and set {env} "
                                   f"(or {env}_FILE naming a file) in the environment"))
            found.extend(_secret_keys(value, loc))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(_secret_keys(value, (*path, i)))
    return found
