"""Load and validate configuration files; read secrets from the environment.

`load_config(path)` reads YAML (None -> the packaged default.yaml), `parse_config(mapping, source)`
validates a mapping. Every problem becomes ONE line `<source>: <dotted.key>: <message>`; several problems
are raised together as one `ConfigValidationError` whose first line is a summary.

Secrets never come from YAML: a key that looks like one (api_key, secret, token, password, ...) is rejected
with the environment variable to use instead. `Secrets.from_env()` reads them (or `<NAME>_FILE`).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar, get_args

import yaml
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError
from yaml.constructor import ConstructorError, SafeConstructor

from traderagent.config.models import AppConfig, CapitalAllocation
from traderagent.config.units import ERROR_TYPE, show
from traderagent.errors import ConfigError

DEFAULT_NAME = "default.yaml"
M = TypeVar("M", bound=BaseModel)


class ConfigValidationError(ConfigError):
    """One or more problems in one config source; `problems` holds one line each."""

    def __init__(self, source: str, problems: Sequence[str]):
        self.source = source
        self.problems = tuple(problems)
        n = len(self.problems)
        lines = list(self.problems) if n == 1 else [f"{source}: {n} problems", *self.problems]
        super().__init__("\n".join(lines))


# ---------------------------------------------------------------------------------------------- loading
def default_config_path() -> Path:
    """Path of the packaged default.yaml (the plan's example config)."""
    return Path(str(resources.files("traderagent.config").joinpath(DEFAULT_NAME)))


def load_config(path: str | os.PathLike[str] | None = None) -> AppConfig:
    """Read and validate a YAML config file; None loads the packaged default."""
    if path is None:
        return parse_config(read_yaml(default_config_path(), DEFAULT_NAME), source=DEFAULT_NAME)
    source = str(path)
    return parse_config(read_yaml(Path(path), source), source=source)


def parse_config(mapping: Any, source: str = "<config>") -> AppConfig:
    """Validate an already-parsed mapping (None = empty); raise ConfigValidationError listing every problem."""
    return validate(AppConfig, mapping, source)


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


class _Loader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys (PyYAML would silently keep the last one)."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    first_line: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            continue  # SafeConstructor reports unhashable keys itself
        if key in first_line:
            raise ConstructorError(None, None, f"duplicate key {show(key)} (first at line {first_line[key]}); "
                                               "keep only one", key_node.start_mark)
        first_line[key] = key_node.start_mark.line + 1
    return SafeConstructor.construct_mapping(loader, node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path, source: str | None = None) -> Any:
    """Parse a YAML file; a missing/unreadable file or a syntax error is one ConfigError line."""
    source = source or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{source}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{source}: is a directory, not a config file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: not a UTF-8 text file") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read: {exc.strerror or exc}") from None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = exc.problem or exc.context or "invalid YAML"
        kind = "" if isinstance(exc, ConstructorError) else "YAML syntax error: "
        hint = "; check the indentation" if "block" in what else ""
        raise ConfigError(f"{source}: {where}{kind}{what}{hint}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: YAML error: {exc}") from None


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
    what = "strategy" if model is CapitalAllocation else "key"
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


class Secrets(BaseModel):
    """Credentials from the environment (`NAME`, or `NAME_FILE` naming a file); masked in repr."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    exchange_api_key: SecretStr | None = None
    exchange_secret: SecretStr | None = None
    exchange_password: SecretStr | None = None
    telegram_bot_token: SecretStr | None = None
    database_url: SecretStr | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Secrets:
        """Read every secret; `NAME` and `NAME_FILE` both set, or an unreadable/empty file, is a ConfigError."""
        env = os.environ if environ is None else environ
        return cls(**{field: _read_secret(var, env) for field, var in SECRET_ENV.items()})

    def require(self, field: str) -> str:
        """The secret's value, or a ConfigError saying which variable to set."""
        value = getattr(self, field)
        if value is None:
            var = SECRET_ENV[field]
            raise ConfigError(f"{var} is not set: export it, or set {var}_FILE to a file that holds it")
        return value.get_secret_value()


#: Secrets field -> environment variable (each may instead be given as `<VAR>_FILE` naming a file).
SECRET_ENV: dict[str, str] = {
    "exchange_api_key": "TRADERAGENT_EXCHANGE_API_KEY",
    "exchange_secret": "TRADERAGENT_EXCHANGE_SECRET",
    "exchange_password": "TRADERAGENT_EXCHANGE_PASSWORD",
    "telegram_bot_token": "TELEGRAM_BOT_TOKEN",
    "database_url": "DATABASE_URL",
}
assert set(SECRET_ENV) == set(Secrets.model_fields)


def _read_secret(var: str, env: Mapping[str, str]) -> str | None:
    value, file_name = env.get(var) or None, env.get(f"{var}_FILE") or None
    if value is not None and file_name is not None:
        raise ConfigError(f"{var} and {var}_FILE are both set; keep one")
    if file_name is None:
        return value
    try:
        text = Path(file_name).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{var}_FILE: cannot read {file_name}: {exc.strerror or exc}") from None
    if not text:
        raise ConfigError(f"{var}_FILE: {file_name} is empty")
    return text


def database_url(config: AppConfig, secrets: Secrets) -> str | None:
    """The database URL to use: DATABASE_URL from the environment wins over `database.url`."""
    if secrets.database_url is not None:
        return secrets.database_url.get_secret_value()
    return config.database.url


__all__ = [
    "DEFAULT_NAME",
    "SECRET_ENV",
    "SECRET_KEYS",
    "ConfigValidationError",
    "Secrets",
    "database_url",
    "default_config_path",
    "load_config",
    "parse_config",
    "read_yaml",
    "replace",
    "validate",
]
