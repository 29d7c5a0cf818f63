"""The README's configuration table lists every setting, with its real default."""

import re

from app.settings import Settings

from .conftest import ROOT

ROW = re.compile(r"^\| `SOURCED_([A-Z0-9_]+)` \| `([^`]*)` \|", re.MULTILINE)


def documented() -> dict[str, str]:
    return {
        name.lower(): default for name, default in ROW.findall((ROOT / "README.md").read_text())
    }


def test_every_setting_is_documented_with_its_default():
    table = documented()
    assert set(table) == set(Settings.model_fields)
    for name, field in Settings.model_fields.items():
        default = field.default
        shown = f"{default:g}" if isinstance(default, float) and default else str(default)
        assert table[name] == shown, f"README shows {table[name]!r} for {name}, code has {shown!r}"


def test_readme_names_the_two_commands():
    text = (ROOT / "README.md").read_text()
    assert "make run" in text and "make test" in text
    assert "make test" in (ROOT / ".ci" / "run").read_text()
