"""The configuration page's table is what the settings class says: one source of truth."""

from __future__ import annotations

import subprocess
import sys

from order_service.settings import Settings
from tests.engines import ROOT

SCRIPT = ROOT / "scripts" / "config_reference.py"


def test_the_configuration_page_is_current_with_the_settings_class() -> None:
    checked = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=60
    )

    assert checked.returncode == 0, checked.stderr


def test_every_setting_has_a_row_and_a_description() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text()

    for name, field in Settings.model_fields.items():
        assert field.description, name
        assert f"| `ORDERS_{name.upper()}` |" in page
