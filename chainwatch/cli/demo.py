"""``chainwatch demo``: the whole pipeline on simulated data, for a first look."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from chainwatch.cli import app


@app.command("demo")
def demo_command(
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Work here (default: a new temporary directory).")
    ] = None,
) -> None:
    """Simulate flows after the public timeline, scan them, print the report, write HTML and PNG.

    Bitcoin traffic from a watched range starts 2017-05-17; Monero mining appears later and
    overtakes Bitcoin about tenfold from May 2019; Tor/VPN use rises, compared between April
    2017 and December 2019. Offline and deterministic.

    Examples:

      chainwatch demo

      chainwatch demo --dir ./demo
    """
    from rich.console import Console

    from chainwatch.demo import run_demo
    from chainwatch.report.terminal import fold_text, print_table

    target = directory or Path(tempfile.mkdtemp(prefix="chainwatch-demo-"))
    console = Console(highlight=False, soft_wrap=True)
    result = run_demo(target, console)
    console.print(result.scan_line, markup=False)
    print_table(result.report, console)
    tv = result.obfuscation
    fold, interval = fold_text(tv)
    console.print(
        f"Tor/VPN use {fold} (95% {interval}):\n"
        f"  {tv['a']['per_day']:.2f}/day in {tv['a']['from']}..{tv['a']['to']}, "
        f"{tv['b']['per_day']:.2f}/day in {tv['b']['from']}..{tv['b']['to']}"
    )
    console.print(f"wrote {result.html} (interactive) and {result.png}")
