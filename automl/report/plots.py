"""The report's figures, as inline SVG strings: no files beside the page, no JavaScript.

Uses matplotlib's object API (``Figure``), never ``pyplot``: no global figure state, no GUI
backend, safe inside a search that runs in a thread or a notebook.
"""

from __future__ import annotations

import io
import re

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from automl.report.analysis import ClassQuality, GroupStats, TrialRow

BLUE, GREY, RED, GREEN = "#3465a4", "#a0a0a0", "#cc0000", "#4e9a06"
WIDTH = 7.0  # inches; the page is ~720px wide at 100 dpi
_XML_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.S)


def to_svg(fig: Figure) -> str:
    """The figure as an ``<svg>`` element, without the XML prologue a page cannot contain."""
    buf = io.StringIO()
    # Fixed id salt: rewriting the report of the same study gives the same bytes.
    with matplotlib.rc_context({"svg.hashsalt": "automl-report", "svg.fonttype": "path"}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    return _XML_PROLOGUE.sub("", buf.getvalue(), count=1)


def history(rows: list[TrialRow], maximize: bool, metric: str, baseline: float | None) -> str:
    fig = Figure(figsize=(WIDTH, 3.2))
    ax = fig.subplots()
    done = sorted((r for r in rows if r.value is not None), key=lambda r: r.number)
    other = [r for r in rows if r.value is None and r.fold_scores]
    if other:  # pruned trials at their running mean when they were stopped
        ax.scatter(
            [r.number for r in other],
            [np.mean(r.fold_scores) for r in other],
            marker="x",
            color=GREY,
            label="pruned / failed (mean of folds run)",
        )
    values = [float(r.value) for r in done if r.value is not None]
    ax.scatter([r.number for r in done], values, color=BLUE, label="complete trial")
    if done:
        pick = np.maximum.accumulate if maximize else np.minimum.accumulate
        ax.step([r.number for r in done], pick(values), where="post", color=RED, label="best so far")
    if baseline is not None:
        ax.axhline(baseline, color=GREY, linestyle="--", linewidth=1, label="class-prior baseline")
    ax.set_xlabel("trial")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(metric)
    ax.legend(loc="best", fontsize=8)
    return to_svg(fig)


def best_over_time(rows: list[TrialRow], maximize: bool, metric: str) -> str:
    """The best CV score so far against wall time, each trial's strategy marked: how soon the
    search found what it ships, and when each strategy first finished."""
    fig = Figure(figsize=(WIDTH, 3.0))
    ax = fig.subplots()
    done = sorted((r for r in rows if r.value is not None), key=lambda r: r.finished_at)
    if done:
        pick = np.maximum.accumulate if maximize else np.minimum.accumulate
        times = [r.finished_at for r in done]
        ax.step(
            times,
            pick([float(r.value) for r in done if r.value is not None]),
            where="post",
            color=RED,
            label="best so far",
        )
        for strategy in sorted({r.strategy for r in done}):
            mine = [r for r in done if r.strategy == strategy]
            ax.scatter(
                [r.finished_at for r in mine], [float(r.value or 0.0) for r in mine], s=14, label=strategy
            )
    ax.set_xlabel("seconds since the first trial started")
    ax.set_ylabel(metric)
    ax.legend(loc="best", fontsize=8)
    return to_svg(fig)


def bars(values: dict[str, float], xlabel: str, color: str = BLUE) -> str:
    """Horizontal bars, largest on top."""
    names = list(values)[::-1]
    fig = Figure(figsize=(WIDTH, 0.35 * len(names) + 0.9))
    ax = fig.subplots()
    ax.barh(names, [values[n] for n in names], color=color)
    ax.set_xlabel(xlabel)
    ax.tick_params(axis="y", labelsize=8)
    return to_svg(fig)


def fold_spread(rows: list[TrialRow], metric: str) -> str:
    """Box per trial with every fold's score on top: overlapping boxes mean the ranking
    between those trials is within CV noise."""
    fig = Figure(figsize=(WIDTH, 0.55 * len(rows) + 1.0))
    ax = fig.subplots()
    labels = [f"#{r.number} {r.learner}" for r in rows][::-1]
    scores = [list(r.fold_scores) for r in rows][::-1]
    ax.boxplot(
        scores,
        orientation="horizontal",
        tick_labels=labels,
        widths=0.5,
        showfliers=False,
        medianprops={"color": RED},
    )
    for i, s in enumerate(scores, start=1):
        jitter = np.linspace(-0.12, 0.12, len(s)) if len(s) > 1 else np.zeros(1)
        ax.scatter(s, i + jitter, s=10, color=BLUE, alpha=0.7, zorder=3)
    ax.set_xlabel(f"{metric} per fold")
    return to_svg(fig)


def confusion(q: ClassQuality) -> str:
    k = len(q.classes)
    size = min(max(2.5, 0.5 * k + 1.5), WIDTH)
    fig = Figure(figsize=(size + 1.0, size))
    ax = fig.subplots()
    ax.imshow(q.confusion, cmap="Blues")
    ax.set_xticks(range(k), q.classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), q.classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    high = q.confusion.max() / 2 if q.confusion.size else 0
    if k <= 20:  # past that the numbers overlap; the colour still shows the pattern
        for (i, j), n in np.ndenumerate(q.confusion):
            ax.text(
                j, i, str(n), ha="center", va="center", fontsize=8, color="white" if n > high else "black"
            )
    return to_svg(fig)


def learning_curves(curves: list[dict], metric: str) -> str:
    """Scores against labels per class (fold mean, ± fold std) and the forecast at 2x and 4x
    with its range, one colour per curve."""
    fig = Figure(figsize=(WIDTH, 3.4))
    ax = fig.subplots()
    for curve, colour in zip(curves, (BLUE, GREEN, RED)):
        sizes, means, stds = curve["sizes"], curve["means"], curve["stds"]
        label = f"trial {curve['trial']} ({curve['learner']})"
        ax.errorbar(sizes, means, yerr=stds, fmt="o-", color=colour, capsize=3, label=label)
        factors = sorted(curve["forecasts"], key=float)
        xs = [sizes[-1] * float(f) for f in factors]
        points = [curve["forecasts"][f] for f in factors]
        ax.plot([sizes[-1], *xs], [means[-1], *[p[0] for p in points]], "--", color=colour)
        ax.vlines(xs, [p[1] for p in points], [p[2] for p in points], color=colour, alpha=0.5, linewidth=4)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("labels per class (training folds)")
    ax.set_ylabel(metric)
    ax.legend(loc="best", fontsize=8)
    return to_svg(fig)


def seconds_per_group(stats: list[GroupStats]) -> str:
    return bars(
        {g.name: g.seconds for g in sorted(stats, key=lambda g: -g.seconds)},
        "seconds (wall-clock, all trials)",
        color=GREEN,
    )
