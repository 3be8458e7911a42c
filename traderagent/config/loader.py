"""Load and validate configuration files; read secrets from the environment.

`load_config(path)` reads YAML (None -> the packaged default.yaml), `parse_config(mapping, source)`
validates a mapping. Every problem becomes ONE line `<source>: <dotted.key>: <message>`; several problems
are raised together as one `ConfigValidationError` whose first line is a summary.

Secrets never come from YAML: a key that looks like one (api_key, secret, token, password, ...) is rejected
with the environment variable to use instead. `Secrets.from_env()` reads them (or `<NAME>_FILE`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, SecretStr
from yaml.constructor import ConstructorError, SafeConstructor

from traderagent.config.models import AppConfig
from traderagent.config.units import show
from traderagent.config.validation import (  # noqa: F401 - re-exported
    SECRET_KEYS,
    ConfigValidationError,
    replace,
    validate,
)
from traderagent.errors import ConfigError

DEFAULT_NAME = "default.yaml"
M = TypeVar("M", bound=BaseModel)


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
