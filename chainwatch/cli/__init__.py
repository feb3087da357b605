"""The ``chainwatch`` command line: a thin layer over the library.

Each command group lives in its own module and registers on ``app`` when imported; ``main``
imports only the module of the command it runs (all of them for the top-level help), and the
command modules import the library inside their commands, so ``chainwatch --version`` or a
small scan does not pay for SQLAlchemy's or alembic's import when it does not use them.
Commands parse options, call one library function and format the result. ``main`` is the
single place where errors become one-line messages and exit statuses (DESIGN.md);
``--traceback`` shows the traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from chainwatch import __version__
from chainwatch.errors import ChainwatchError, ExitStatus, Interrupted
from chainwatch.interrupt import signal_handlers

if TYPE_CHECKING:
    from chainwatch.config import Settings

try:  # newer typer releases vendor click; older ones use the click package
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import ClickException  # type: ignore[assignment,no-redef,unused-ignore]

app = typer.Typer(
    name="chainwatch",
    help="Track cryptocurrency activity (Bitcoin, Monero, Ethereum, pools, Tor/VPN) tied to "
    "watched IP ranges.\n\nFirst look: chainwatch demo",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@dataclass
class State:
    """Global options, resolved into ``Settings`` on first use (so ``--help`` reads no file)."""

    db: str | None = None
    config: str | None = None
    watchlists: str | None = None
    traceback: bool = False
    _settings: Settings | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from chainwatch.config import load_settings

            self._settings = load_settings(
                db=self.db, config=self.config, watchlists=self.watchlists
            )
        return self._settings


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    assert isinstance(obj, State)
    return obj


def _version(value: bool) -> None:
    if value:
        typer.echo(f"chainwatch {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            envvar="CHAINWATCH_DB",
            help="Database URL [default: sqlite:///chainwatch.db].",
            show_envvar=True,
        ),
    ] = None,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            envvar="CHAINWATCH_CONFIG",
            help="Configuration file [default: chainwatch.toml if present].",
            show_envvar=True,
        ),
    ] = None,
    watchlists: Annotated[
        str | None,
        typer.Option(
            "--watchlists",
            envvar="CHAINWATCH_WATCHLISTS",
            help="Watchlists directory [default: watchlists].",
            show_envvar=True,
        ),
    ] = None,
    traceback: Annotated[
        bool, typer.Option("--traceback", help="Show the full traceback of an error.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    ctx.obj = State(db=db, config=config, watchlists=watchlists, traceback=traceback)


#: Command -> the module (``chainwatch.cli.NAME``) that registers it; the order is that of
#: the top-level help. ``tests/test_docs.py`` checks it against the registered commands.
COMMANDS = {
    "demo": "demo",
    "report": "report",
    "run": "run",
    "status": "run",
    "scan": "scan",
    "catalog": "catalog",
    "db": "db",
    "export": "export",
    "watchlist": "watchlist",
}
#: Global options that take a value (the command name comes after them).
_VALUED = ("--db", "--config", "--watchlists")


def register(args: Sequence[str] | None = None) -> None:
    """Register the command ``args`` run (its module imported), or every command when ``args``
    names none (``--help``, a typo: click then lists them all)."""
    name = None
    it = iter(args or ())
    for arg in it:
        if arg in _VALUED:
            next(it, None)
        elif not arg.startswith("-"):
            name = arg
            break
    if name in COMMANDS:
        modules = [COMMANDS[name]]
    elif args is not None and "--version" in args and name is None:
        modules = []  # eager: printed before any command is looked at
    else:
        modules = list(dict.fromkeys(COMMANDS.values()))
    for module in modules:
        importlib.import_module(f"chainwatch.cli.{module}")


def _print_error(text: str, *, exception: bool = False) -> None:
    from rich.console import Console  # only when there is something to say

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    if exception:
        console.print_exception()
    if text:
        console.print(text, markup=False)


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    """SIGINT and SIGTERM raise ``Interrupted``, so that a command stopped by either says so in
    one line and exits 130 or 143 (SIGTERM's default ends the process without a word). ``scan``
    and ``run`` replace this with their own handler, which stops between batches
    (``chainwatch.interrupt``)."""
    raise Interrupted(signum)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script: run the app, map errors to exit statuses."""
    args = sys.argv[1:] if argv is None else argv
    show_traceback = "--traceback" in args or os.environ.get("CHAINWATCH_TRACEBACK") == "1"
    register(args)
    try:
        with signal_handlers(_raise_interrupted):
            code = app(args=args, prog_name="chainwatch", standalone_mode=False)
    except ChainwatchError as exc:
        _print_error(f"chainwatch: error: {exc}", exception=show_traceback)
        sys.exit(int(exc.exit_status))
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        _print_error("chainwatch: aborted")
        sys.exit(130)
    except Interrupted as exc:
        _print_error(f"chainwatch: {exc}")
        sys.exit(exc.exit_status)
    except KeyboardInterrupt:
        _print_error("chainwatch: interrupted by SIGINT")
        sys.exit(int(ExitStatus.INTERRUPTED))
    except ClickException as exc:
        exc.show()
        sys.exit(int(ExitStatus.USAGE))
    except Exception as exc:  # the last line of defence: a bug, still one line unless asked
        if show_traceback:
            _print_error("", exception=True)
        else:
            _print_error(
                f"chainwatch: internal error: {type(exc).__name__}: {exc} (run with --traceback "
                "and report it)"
            )
        sys.exit(int(ExitStatus.ERROR))
    # Without standalone mode click returns the exit code of typer.Exit instead of raising.
    sys.exit(code if isinstance(code, int) else 0)
