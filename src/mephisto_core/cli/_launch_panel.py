"""The launch panel: a rich live table on a terminal, periodic log lines otherwise."""

from __future__ import annotations

import shlex
import time
from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.table import Table

from mephisto_core.data_model import UnitStatus
from mephisto_core.operations.run.operator import RunStats

LOG_EVERY_SECONDS = 10.0


def _format_elapsed(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:d}:{minutes:02d}:{secs:02d}"


def next_steps(task_name: str) -> str:
    """What a researcher does after a launch: review the submissions, then export them."""
    quoted = shlex.quote(task_name)
    return (
        "Next steps:\n"
        f"  review the submissions:  mephisto review --task {quoted}\n"
        f"  export them:             mephisto export --task {quoted} --format csv -o {shlex.quote(task_name + '.csv')}"
    )


class LaunchDisplay:
    """Shows a run's progress while `mephisto launch` runs."""

    def __init__(self, stats: RunStats, live: bool) -> None:
        self.stats = stats
        self.console = Console()
        self.live = Live(self._table(), console=self.console, refresh_per_second=2, transient=False) if live else None
        self._last_log = 0.0

    def __enter__(self) -> LaunchDisplay:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self.live is not None and self.live.is_started:
            self.live.stop()

    def announce(self, link: str, stats: RunStats) -> None:
        action = "Resumed" if stats.resumed else "Launched"
        self.console.print(f"{action} task [bold]{stats.task_name}[/] (run {stats.run_id}).")
        self.console.print(f"Worker link: [bold cyan]{link}[/]", soft_wrap=True)
        self.console.print("Press Ctrl-C to stop.")
        if self.live is not None:
            self.live.start()

    def note(self, text: str) -> None:
        self.console.print(text)

    def refresh(self) -> None:
        if not self.stats.counts:
            return
        if self.live is not None:
            self.live.update(self._table())
            return
        now = time.monotonic()
        if now - self._last_log >= LOG_EVERY_SECONDS:
            self._last_log = now
            self.console.print(self._line(), highlight=False, soft_wrap=True)

    def summary(self, stats: RunStats) -> None:
        self.console.print(self._line(), highlight=False, soft_wrap=True)
        left = stats.count(UnitStatus.CREATED, UnitStatus.LAUNCHED, UnitStatus.ASSIGNED, UnitStatus.EXPIRED)
        if left:
            parts = [
                (stats.count(UnitStatus.CREATED), "never offered yet"),
                (stats.count(UnitStatus.LAUNCHED, UnitStatus.EXPIRED), "offered but not taken (withdrawn)"),
                (stats.count(UnitStatus.ASSIGNED), "held by a worker when the run stopped"),
            ]
            detail = ", ".join(f"{n} {what}" for n, what in parts if n)
            self.console.print(
                f"Stopped with {left} units not done ({detail}); launch the same task again to resume them.",
                highlight=False,
            )
        else:
            self.console.print(f"All {stats.total} units are done.")
        self.console.print(next_steps(stats.task_name), highlight=False, soft_wrap=True)

    def _line(self) -> str:
        s = self.stats
        refusals = ", ".join(f"{k} {v}" for k, v in sorted(s.refusals.items())) or "none"
        done = s.count(UnitStatus.COMPLETED, UnitStatus.ACCEPTED, UnitStatus.REJECTED, UnitStatus.SOFT_REJECTED)
        return (
            f"[{_format_elapsed(s.elapsed)}] {s.task_name}: {s.total} units, "
            f"launched {s.count(UnitStatus.LAUNCHED)}, in progress {s.count(UnitStatus.ASSIGNED)}, "
            f"completed {done}, "
            f"withdrawn {s.count(UnitStatus.EXPIRED)}, {s.submissions_per_minute}/min, refusals: {refusals}"
        )

    def _table(self) -> Table:
        s = self.stats
        table = Table(title=f"{s.task_name} (run {s.run_id})", show_header=False, min_width=44)
        table.add_column(style="bold")
        table.add_column(justify="right")
        done = s.count(UnitStatus.COMPLETED, UnitStatus.ACCEPTED, UnitStatus.REJECTED, UnitStatus.SOFT_REJECTED)
        for label, value in (
            ("units", s.total),
            ("waiting to launch", s.count(UnitStatus.CREATED)),
            ("launched", s.count(UnitStatus.LAUNCHED)),
            ("in progress", s.count(UnitStatus.ASSIGNED)),
            ("completed", done),
            ("withdrawn (offered again)", s.count(UnitStatus.EXPIRED)),
            ("submissions / min", s.submissions_per_minute),
            ("elapsed", _format_elapsed(s.elapsed)),
        ):
            table.add_row(label, str(value))
        for reason, count in sorted(s.refusals.items()):
            table.add_row(f"refused: {reason}", str(count))
        if s.stopping:
            table.add_row("stopping", s.stopping)
        return table
