"""The README and CI agree, and every command, format and kind is documented (sqlite-utils'
habit: the lists come from the real command tree and registries, not from this file)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import typer.main

from chainwatch.cli import COMMANDS, app, register
from chainwatch.export import FORMATS as EXPORTERS
from chainwatch.registry import Entry
from chainwatch.report import FORMATS as REPORT_FORMATS
from chainwatch.sources import FORMATS, choices
from chainwatch.watchers import REGISTRY

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()


def readme_commands() -> list[str]:
    """The commands of the README's first shell block (comments left out)."""
    first_block = re.search(r"```sh\n(.*?)```", README, re.S)
    assert first_block is not None
    return [line for line in first_block.group(1).splitlines() if line and not line.startswith("#")]


def commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    """Every command and subcommand of the real app (click objects), nested groups included."""
    if path:
        yield " ".join(path), command
    for name, sub in getattr(command, "commands", {}).items():  # a group's subcommands
        yield from commands(sub, (*path, name))


def tree() -> dict[str, Any]:
    register()  # every command module (``main`` imports only the one it runs)
    return dict(commands(typer.main.get_command(app)))


def registry_rows() -> list[str]:
    """The README's table rows of the registries, as they must read."""
    rows = [f"| `{f.name}` | {f.title} | `{f.watcher}` |" for f in FORMATS.values()]
    for entries in (REGISTRY, EXPORTERS, REPORT_FORMATS):
        rows += [f"| `{e.name}` | {e.description} |" for e in entries.values()]
    return rows


def test_readme_opens_with_the_two_commands() -> None:
    commands = readme_commands()
    assert len(commands) == 2
    assert commands[0].endswith("chainwatch demo")
    assert commands[1].endswith(".venv/bin/python -m pytest")


def test_ci_runs_the_readme_test_command() -> None:
    ci = (REPO / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == readme_commands()[1]


def test_the_command_tree_is_walked() -> None:
    found = set(tree())
    assert {"scan", "export", "export verify", "db upgrade", "watchlist import"} <= found


def test_main_knows_the_module_of_every_command() -> None:
    """``main`` imports only ``COMMANDS[name]``: it must be the module registering ``name``."""
    register()
    found = {c.name: c.callback.__module__ for c in app.registered_commands if c.callback}
    for group in app.registered_groups:
        sub = group.typer_instance
        assert sub is not None
        action = sub.registered_callback or sub.registered_commands[0]
        assert action.callback is not None
        found[str(group.name)] = action.callback.__module__
    assert found == {name: f"chainwatch.cli.{module}" for name, module in COMMANDS.items()}


def test_every_command_is_in_the_readme() -> None:
    for command in tree():
        assert f"chainwatch {command}" in README, command


def test_every_command_has_help_with_an_example() -> None:
    for command, cmd in tree().items():
        if hasattr(cmd, "commands") and not cmd.invoke_without_command:
            continue  # a group without an action of its own: its subcommands are checked
        assert cmd.help and "chainwatch" in cmd.help, f"{command}: no example in --help"


def test_every_format_kind_exporter_and_report_format_is_in_the_readme() -> None:
    missing = [row for row in registry_rows() if row not in README]
    assert not missing, "README.md lacks these registry rows:\n" + "\n".join(missing)


def test_the_commands_table_lists_the_registries_choices() -> None:
    def alternatives(names: Iterable[str]) -> str:
        return "--format " + "\\|".join(names)

    assert alternatives(choices("flows")) in README
    assert alternatives(REPORT_FORMATS) in README
    assert alternatives(EXPORTERS) in README


def test_registry_entries_load() -> None:
    for entries in (REGISTRY, EXPORTERS, REPORT_FORMATS):
        for entry in entries.values():
            assert isinstance(entry, Entry) and entry.load() is not None, entry.name


def test_every_environment_variable_is_in_the_readme() -> None:
    sources = "\n".join(p.read_text() for p in (REPO / "chainwatch").rglob("*.py"))
    for variable in sorted(set(re.findall(r'"(CHAINWATCH_[A-Z_]+)"', sources))):
        assert variable in README, variable


#: Packages that are not stages of the data flow: the command line, the settings it loads,
#: catalog/watchlist imports (they write files the flow reads), the database's migrations.
_NOT_IN_THE_FLOW = {"cli", "settings", "imports", "migrations"}


def test_the_data_flow_picture_names_the_package_layout() -> None:
    """The README's picture (DESIGN.md carries the same) names real modules, and every package
    taking part in the flow."""
    block = re.search(r"## What it does\n\n```\n(.*?)```", README, re.S)
    assert block is not None
    picture = block.group(1)
    named = set(re.findall(r"\b[a-z_]+(?:/[a-z_]+)*(?:\.py\b|/)", picture))
    package = REPO / "chainwatch"
    missing = sorted(p for p in named if not (package / p).exists())
    assert not missing, f"the picture names what chainwatch/ does not hold: {missing}"
    packages = {p.name for p in package.iterdir() if (p / "__init__.py").exists()}
    unnamed = sorted(
        p for p in packages - _NOT_IN_THE_FLOW if not any(n.startswith(f"{p}/") for n in named)
    )
    assert not unnamed, f"packages of the flow missing from the picture: {unnamed}"
    for stage in ("observations.py", "match.py", "store/ingest.py", "watchers/"):
        assert stage in named, stage
