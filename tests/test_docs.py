"""The README and CI agree, and every command is documented (sqlite-utils' habit)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()


def readme_commands() -> list[str]:
    """The commands of the README's first shell block (comments left out)."""
    first_block = re.search(r"```sh\n(.*?)```", README, re.S)
    assert first_block is not None
    return [line for line in first_block.group(1).splitlines() if line and not line.startswith("#")]


def test_readme_opens_with_the_two_commands() -> None:
    commands = readme_commands()
    assert len(commands) == 2
    assert commands[0].endswith("chainwatch demo")
    assert commands[1].endswith(".venv/bin/python -m pytest")


def test_ci_runs_the_readme_test_command() -> None:
    ci = (REPO / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == readme_commands()[1]


def test_every_command_is_in_the_readme() -> None:
    for command in (
        "scan",
        "run",
        "report",
        "export",
        "export verify",
        "status",
        "watchlist",
        "db upgrade",
        "demo",
    ):
        assert f"chainwatch {command}" in README, command


def test_every_environment_variable_is_in_the_readme() -> None:
    sources = "\n".join(p.read_text() for p in (REPO / "chainwatch").rglob("*.py"))
    for variable in sorted(set(re.findall(r'"(CHAINWATCH_[A-Z_]+)"', sources))):
        assert variable in README, variable
