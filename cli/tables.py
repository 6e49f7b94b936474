"""Tables of trials that never hide a searched value.

Rich fits a table to the terminal by cutting cells (`label_smoothing=0.…`): in a table of
trials that cuts the very value the study is about. Here the widths are planned before Rich
sees them: every value keeps its whole width; what gives way are the words (a state's reason
wraps) and the parameter names (split at `_` onto lines, or shortened with `…`). Parameters get
a column each when they fit, else one column with a `name=value` line per parameter; where
not even that fits, no Rich table (the caller prints plain lines, which the terminal wraps).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from rich.markup import escape
from rich.table import Table

ELLIPSIS = "…"
BORDERS = 3   # a column's share of the box: one rule and a space of padding either side


@dataclass
class Column:
    header: str
    cells: list[str]
    justify: Literal["left", "right"] = "right"
    wraps: bool = False          # text that may wrap between words (a state and its reason)
    width: int = field(default=0)

    def natural(self) -> int:
        return max(len(line) for text in (self.header, *self.cells)
                   for line in text.splitlines() or [""])

    def least(self) -> int:
        """Narrowest without hiding a value: the header on lines (split at `_`, spaces), and
        each cell's lines whole, or, for text that wraps, its longest word."""
        header = max(len(part) for part in _split_name(self.header).splitlines())
        cells = [len(piece) for cell in self.cells for line in cell.splitlines()
                 for piece in (line.split() if self.wraps else [line])]
        return max([header, *cells, 1])


def fitted_table(title: str, fixed: list[Column], params: dict[str, list[str]],
                 width: int) -> Table | None:
    """A Rich table of the `fixed` columns then the parameters (name -> a cell per row) in
    `width` columns, cutting no value; None where no such table fits."""
    columns = fixed + [Column(name, cells) for name, cells in params.items()]
    if not _fit(columns, width):
        if not params:
            return None
        room = width - sum(BORDERS + column.least() for column in fixed) - BORDERS - 1
        lines = ["\n".join(_shortened(f"{name}={cells[row]}", room)
                           for name, cells in params.items() if cells[row] != "")
                 for row in range(len(fixed[0].cells))]
        columns = fixed + [Column("params", lines, justify="left")]
        if not _fit(columns, width):
            return None
    table = Table(title=escape(title))
    for column in columns:
        header = column.header if column.width >= column.natural() or column.wraps \
            else _split_name(column.header)
        table.add_column(escape(header), justify=column.justify, width=column.width,
                         no_wrap=not column.wraps, overflow="fold")
    for row in zip(*(column.cells for column in columns)):
        table.add_row(*(escape(cell) for cell in row))
    return table


def plain_table(title: str, fixed: list[Column], params: dict[str, list[str]]) -> str:
    """The same rows as aligned plain lines, the parameters last as `name=value` text: what a
    terminal too narrow for any table wraps, and what a study of many trials prints fast."""
    text = [" ".join(f"{name}={cells[row]}" for name, cells in params.items() if cells[row])
            for row in range(len(fixed[0].cells))]
    columns = fixed + [Column("params", text)]
    widths = [column.natural() for column in fixed]
    lines = [title] + ["  ".join(cell.ljust(width) for cell, width in zip(line, widths))
                       + "  " + line[-1]
                       for line in zip(*([c.header, *c.cells] for c in columns))]
    return "\n".join(lines) + "\n"


def _fit(columns: list[Column], width: int) -> bool:
    """Set each column's width: the least each needs, then what is left towards its natural
    width, wrapping text first. False (widths at their least) when even that does not fit."""
    room = width - BORDERS * len(columns) - 1
    for column in columns:
        column.width = column.least()
    spare = room - sum(column.width for column in columns)
    if spare < 0:
        return False
    for column in sorted(columns, key=lambda c: c.wraps):   # whole names first: they are short
        grow = min(spare, column.natural() - column.width)
        column.width += grow
        spare -= grow
    return True


def _split_name(name: str) -> str:
    """`label_smoothing` -> `label_` over `smoothing`; `pruned at` -> `pruned` over `at`."""
    return "\n".join(part for part in re.split(r"(?<=_)|\s+", name) if part)


def _shortened(line: str, room: int) -> str:
    """`name=value` in `room` characters by shortening the name; the value stays whole."""
    name, _, value = line.partition("=")
    if len(line) <= room:
        return line
    keep = max(room - len(value) - 2, 1)
    return f"{name[:keep]}{ELLIPSIS}={value}"
