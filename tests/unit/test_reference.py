"""The strategy reference (docs/strategies.md) is generated from the config models and must be current."""

from __future__ import annotations

from pathlib import Path

from traderagent.config.models import STRATEGY_MODELS
from traderagent.report.reference import field_rows, main, render

DOC = Path(__file__).resolve().parents[2] / "docs" / "strategies.md"


def test_docs_strategies_md_is_current():
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/strategies.md is out of date: run `python -m traderagent.report.reference docs/strategies.md`")
    assert main(["--check", str(DOC)]) == 0


def test_every_parameter_is_listed_with_its_default_and_search_range():
    text = render()
    for name, model in STRATEGY_MODELS.items():
        assert f"## `{name}`:" in text
        rows = {r["key"]: r for r in field_rows(model)}
        assert list(rows) == list(model.model_fields)  # every field, in schema order
        defaults = model().model_dump(mode="json")
        for key, info in model.model_fields.items():
            assert info.description, f"{name}.{key} has no description"
            row = rows[key]
            assert f"| `{key}` | `{row['default']}` |" in text
            default = defaults[key]
            if isinstance(default, (int, float, str)) and not isinstance(default, bool):
                assert row["default"] == str(default)
            search = (info.json_schema_extra or {}).get("search")
            if search and "low" in search:
                assert row["search"].startswith(f"{search['low']} … {search['high']}")
            elif not search:
                assert row["search"] == "—"


def test_check_mode_flags_a_stale_file(tmp_path, capsys):
    stale = tmp_path / "strategies.md"
    stale.write_text(render().replace("| `ema_fast` | `12` |", "| `ema_fast` | `10` |"), encoding="utf-8")
    assert main(["--check", str(stale)]) == 1
    assert "out of date" in capsys.readouterr().err
    assert main([str(stale)]) == 0 and main(["--check", str(stale)]) == 0
