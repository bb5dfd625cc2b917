"""Live progress of a search in a terminal: budget used and left, trial counts, the best
pipeline so far and a small leaderboard, redrawn every second under the log lines. When the
output is not a terminal (CI, a file) the per-trial log lines are the progress."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import optuna
from optuna.trial import TrialState

from automl.pipeline.metrics import MetricInfo
from automl.search.budget import Deadline
from automl.search.study import best_first, value_of
from automl.space.spec import PipelineSpec

LEADERBOARD_ROWS = 5


@dataclass
class SearchStatus:
    deadline: Deadline
    metric: MetricInfo
    study_name: str
    counts: dict[str, int] = field(default_factory=lambda: {"COMPLETE": 0, "PRUNED": 0, "FAIL": 0})
    running: int = 0
    top: list[tuple[int, float, str]] = field(default_factory=list)  # (trial, score, pipeline)

    def update(self, study: optuna.Study) -> None:
        trials = study.get_trials(deepcopy=False)
        for state in self.counts:
            self.counts[state] = sum(t.state.name == state for t in trials)
        self.running = sum(t.state == TrialState.RUNNING for t in trials)
        done = best_first(trials, self.metric.direction == "maximize")
        self.top = [(t.number, value_of(t), _describe(t)) for t in done[:LEADERBOARD_ROWS]]

    def __rich__(self):
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        d = self.deadline
        total = max(d.end - d.start, 1e-9)
        used = min(d.elapsed(), total)
        head = Text.assemble(
            (f"{self.study_name}  ", "bold"),
            f"budget {_clock(used)} used, {_clock(d.total_left())} left   ",
            f"trials: {self.counts['COMPLETE']} complete, {self.counts['PRUNED']} pruned, "
            f"{self.counts['FAIL']} failed, {self.running} running",
        )
        filled = int(round(40 * used / total))
        parts = [head, Text("█" * filled + "░" * (40 - filled) + f" {100 * used / total:3.0f}%")]
        if self.top:
            best = self.top[0]
            parts.append(
                Text(
                    f"best {self.metric.name} {best[1]:.4f} (trial {best[0]}): {best[2]}",
                    style="green",
                    overflow="ellipsis",
                    no_wrap=True,
                )
            )
            table = Table(box=None, pad_edge=False, show_edge=False)
            table.add_column("trial", justify="right")
            table.add_column(self.metric.name, justify="right")
            table.add_column("pipeline", overflow="ellipsis", no_wrap=True)
            for number, score, pipeline in self.top:
                table.add_row(str(number), f"{score:.4f}", pipeline)
            parts.append(table)
        return Group(*parts)


def _describe(trial: optuna.trial.FrozenTrial) -> str:
    spec = trial.user_attrs.get("spec")
    return PipelineSpec.from_dict(spec).describe() if spec else str(trial.params)


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


@contextmanager
def live_status(status: SearchStatus, enabled: bool) -> Iterator[None]:
    """Show ``status`` live while the block runs, when ``enabled`` and stderr is a terminal."""
    if not enabled or not sys.stderr.isatty():
        yield
        return
    from rich.console import Console
    from rich.live import Live

    from automl.logger import log

    # The log handler writes through this console, so log lines scroll above the panel.
    console = next((h.console for h in log.handlers if hasattr(h, "console")), Console(stderr=True))
    with Live(status, console=console, refresh_per_second=1, transient=False):
        yield
    time.sleep(0)  # let the last frame render before the final log lines
