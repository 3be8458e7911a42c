"""docs/operations.md stays in step with the code: its metric table is METRICS (names, types, labels), its alert
table names every alert rule, and the config keys it mentions exist."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from traderagent.config.models import LiveConfig
from traderagent.obs.metrics import METRICS

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")


def test_the_metric_table_is_the_metric_list():
    rows = {m.group(1): (m.group(2), m.group(3))
            for m in re.finditer(r"^\| `(traderagent_\w+)` \| (\w+) \| ([^|]+) \|", DOC, re.M)}
    assert set(rows) == set(METRICS), set(rows) ^ set(METRICS)
    for name, spec in METRICS.items():
        kind, labels = rows[name]
        assert kind == spec.kind, name
        assert labels.strip() == (", ".join(spec.labels) or "–"), name


def test_the_alert_table_names_every_rule():
    rules = yaml.safe_load((ROOT / "live" / "prometheus" / "rules" / "traderagent.yml").read_text())
    alerts = {r["alert"]: r["labels"]["severity"] for g in rules["groups"] for r in g["rules"]}
    rows = dict(re.findall(r"^\| `(TraderAgent\w+)` \| (\w+) \|", DOC, re.M))
    assert rows == alerts


def test_the_live_keys_it_names_exist():
    for key in set(re.findall(r"`live\.(\w+)", DOC)) - {"sandbox"}:  # live.sandbox: the ccxt port's (issue 13)
        assert key in LiveConfig.model_fields, key
