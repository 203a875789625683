"""What the user watches during a run: a rich live view on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from bttackler.core.config import format_duration
from bttackler.core.objective import CountRule
from bttackler.core.verdict import plural
from bttackler.runtime.snapshot import RunSnapshot, View


def params_text(params: dict[str, Any] | None, limit: int = 160) -> str:
    if not params:
        return "-"
    text = ", ".join(f"{k}={short_value(v)}" for k, v in params.items())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def short_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _value(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"  # as the run log prints values


def status_line(s: RunSnapshot) -> str:
    c = s.counts
    parts = [
        f"{format_duration(s.elapsed)}/{format_duration(s.budget)}",
        f"finished {c.finished}",
        f"running {s.running}",
        f"failed {c.failed}",
        f"terminated {c.terminated}",
    ]
    if c.by_indicator:
        parts.append("(" + ", ".join(f"{k} {v}" for k, v in sorted(c.by_indicator.items())) + ")")
    if c.skipped:
        parts.append(f"skipped {c.skipped}")
    parts.append(f"best {_value(s.best_value)}" + (f" (#{s.best_trial})" if s.best_trial else ""))
    if s.lost_records:
        parts.append(f"LOST RECORDS {s.lost_records}")
    return " | ".join(parts)


class LineView(View):
    """For logs and CI: one line per finished trial and a status line every ``every`` s."""

    def __init__(self, stream: TextIO | None = None, every: float = 10.0) -> None:
        self.stream = stream or sys.stdout
        self.every = every
        self._last = 0.0

    def update(self, snapshot: RunSnapshot) -> None:
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            print(status_line(snapshot), file=self.stream, flush=True)

    def event(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def close(self) -> None:
        pass


class LiveView(View):
    """A rich live panel: budget bar, counts, best trial, what each slot is doing."""

    def __init__(self, console: Console, title: str) -> None:
        self.console = console
        self.title = title
        self._events: list[str] = []
        self._live = Live(console=console, refresh_per_second=4, transient=False)
        self._live.start()

    def update(self, snapshot: RunSnapshot) -> None:
        self._live.update(self._render(snapshot))

    def event(self, text: str) -> None:
        self._events = (self._events + [text])[-6:]

    def _render(self, s: RunSnapshot) -> Group:
        fraction = min(1.0, s.elapsed / s.budget) if s.budget else 1.0
        bar = Table.grid(padding=(0, 1))
        bar.add_row(
            Text(self.title, style="bold"),
            ProgressBar(total=1.0, completed=fraction, width=40),
            Text(
                f"{format_duration(s.elapsed)} elapsed, "
                f"{format_duration(max(0.0, s.budget - s.elapsed))} left"
            ),
        )
        counts = Text(status_line(s).split(" | ", 1)[1])
        best = Text(f"best: {_value(s.best_value)}  {params_text(s.best_params)}", style="green")
        slots = Table(box=None, show_header=True, header_style="dim", pad_edge=False)
        for col in ("slot", "trial", "epoch", "running for"):
            slots.add_column(col)
        for v in s.slots:
            running = "-" if v.started is None else format_duration(s.elapsed - v.started)
            slots.add_row(
                str(v.index),
                "idle" if v.trial_id is None else f"#{v.trial_id}",
                "-" if v.epoch is None else str(v.epoch),
                running,
            )
        recent = Text("\n".join(self._events), style="dim")
        return Group(bar, counts, best, slots, recent)

    def close(self) -> None:
        self._live.stop()


def make_view(title: str, *, force_plain: bool = False) -> LineView | LiveView:
    console = Console()
    if console.is_terminal and not force_plain:
        return LiveView(console, title)
    return LineView()


def summary_rows(
    rows: list[dict[str, Any]], objective: str, count: CountRule, limit: int = 10
) -> tuple[str, tuple[str, ...], list[tuple[str, ...]]]:
    """Title, columns and cells of the best ``limit`` of ``rows`` (ranked, each with its
    ``counted`` value): the run's closing summary, as a table or as plain rows."""
    shown = plural(min(limit, len(rows)), "trial")
    cells: list[tuple[str, ...]] = [
        (
            str(r["id"]),
            _value(r["counted"]),
            r["state"] + (f" ({r['indicator']})" if r.get("indicator") else ""),
            str(r["epochs"]),
            "-" if r["duration"] is None else f"{r['duration']:.1f}s",
            params_text(r["params"], limit=400),
        )
        for r in rows[:limit]
    ]
    title = f"top {shown} by {objective} ({count.label})"
    return title, ("trial", objective, "state", "epochs", "time", "params"), cells


def summary_table(
    rows: list[dict[str, Any]], objective: str, count: CountRule, limit: int = 10
) -> Table:
    """:func:`summary_rows` as a rich table."""
    title, columns, cells = summary_rows(rows, objective, count, limit)
    table = Table(title=title)
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in cells:
        table.add_row(*row)
    return table
