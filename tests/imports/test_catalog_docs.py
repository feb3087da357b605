"""Every catalog format of the registry is in ``--help`` and has a README example."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chainwatch.imports.catalog import FORMATS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_format_is_documented(cli: Any) -> None:
    shown = cli("catalog", "import", "--help")
    assert shown.exit_code == 0
    section = README.split("### Catalog imports", 1)[1]
    for name in FORMATS:
        assert f"\n    {name}\n" in shown.stdout, name
        assert f"chainwatch catalog import {name} " in section, name
