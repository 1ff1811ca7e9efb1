"""``dfad-bench benchmarks ...``: declare a dataset once by name (``add``), list what can be used
(``list``, ``adapters``). Light to import (typer and rich only): the CLI loads it on every start;
each command imports its module when it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from dfad_bench.errors import DfadError

app = typer.Typer(no_args_is_help=True, help="Declare datasets as named benchmarks (dataset adapters).")
console = Console()


def _options(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise DfadError(f"--option expects key=value, got {item!r}")
        out[key.strip()] = value.strip()
    return out


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Name to use with --benchmark.")],
    adapter: Annotated[str, typer.Argument(help="Dataset adapter (`dfad-bench benchmarks adapters`).")],
    path: Annotated[Path, typer.Argument(help="The dataset's root folder (or table / parquet file).")],
    option: Annotated[list[str] | None, typer.Option("--option", help="Adapter option key=value (repeatable), e.g. path=file_name.")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite an existing declaration of NAME.")] = False,
) -> None:
    """Check the dataset (its manifest is built once) and declare it as NAME in the user config."""
    from dfad_bench.datasets.user import add_user_benchmark, user_benchmarks_file

    bench = add_user_benchmark(name, adapter, path, _options(option or []), replace=replace)
    console.print(f"declared benchmark {bench.name!r} = {bench.ref} in {user_benchmarks_file()}", highlight=False, soft_wrap=True)


@app.command("remove")
def remove(name: Annotated[str, typer.Argument(help="A declared benchmark.")]) -> None:
    """Forget a declared benchmark (the data is untouched)."""
    from dfad_bench.datasets.user import remove_user_benchmark

    remove_user_benchmark(name)
    console.print(f"removed {name!r}")


@app.command("list")
def list_declared() -> None:
    """Benchmarks declared with `benchmarks add` (registered ones: `dfad-bench list benchmarks`)."""
    from dfad_bench.datasets.user import load_user_benchmarks, user_benchmarks_file

    table = Table(title=f"declared benchmarks ({user_benchmarks_file()})")
    for col in ("name", "adapter", "path", "options"):
        table.add_column(col)
    for b in load_user_benchmarks().values():
        table.add_row(b.name, b.adapter, b.path, ", ".join(f"{k}={v}" for k, v in b.options.items()))
    console.print(table)


@app.command("adapters")
def adapters() -> None:
    """Dataset adapters: use one as --benchmark ADAPTER:PATH or with `benchmarks add` (docs/DATASETS.md)."""
    from dfad_bench.datasets import list_adapters

    table = Table(title="dataset adapters")
    for col in ("name", "description", "options", "status"):
        table.add_column(col)
    for row in list_adapters():
        table.add_row(row["name"], row["description"], row["options"], row["status"])
    console.print(table)
