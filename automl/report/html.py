"""The search report: one self-contained HTML page in the run folder.

Inline CSS and SVG only (no scripts, fonts or images fetched), so the page reads the same
offline, attached to an MLflow run, or mailed to a colleague.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from collections.abc import Set as AbstractSet
from html import escape
from pathlib import Path
from typing import Any

import optuna

from automl.data.splits import fold_std
from automl.logger import log
from automl.report import plots
from automl.report.analysis import ReportGap, class_quality, group_stats, ranked, trial_rows
from automl.report.importance import ALL_TRIALS, grouped, importances
from automl.report.inputs import ReportInputs, load_inputs

REPORT_FILE = "report.html"
LEADERBOARD_ROWS = 10
SPREAD_TRIALS = 5

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.5rem}h2{font-size:1.2rem;border-bottom:1px solid #ddd;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0}td,th{padding:.2rem .6rem;border-bottom:1px solid #eee;text-align:left}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}.note{color:#666;font-style:italic}
svg{max-width:100%;height:auto}code{font-size:.9em}
"""


def write_report(run_dir: Path, study: optuna.Study | None = None, storage: str | None = None) -> Path:
    """Write ``<run_dir>/report.html`` and return its path. ``study`` defaults to the one named
    in the run's summary, in ``storage`` (default: the output folder's SQLite database)."""
    inputs = load_inputs(Path(run_dir), study, storage)
    path = inputs.run_dir / REPORT_FILE
    path.write_text(render(inputs), encoding="utf-8")
    log.info("Report: %s", path)
    return path


def render(inp: ReportInputs) -> str:
    s = inp.summary
    sections = [
        _section("regime", "The data and its regime", _regime),
        _section("shipped", "What ships, and how good it is", _shipped),
        _section("leaderboard", f"Leaderboard (top {LEADERBOARD_ROWS})", _leaderboard),
        _section("history", "Optimisation history", _history),
        _section("importance", "What mattered", _importance),
        _section("strategies", "Learners and strategies: best score and time", _strategies),
        _section("folds", f"Per-fold scores of the top {SPREAD_TRIALS} trials", _folds),
        _section("quality", "Best trial, per class (out of fold)", _quality),
        _section("labels", "Would more labels help?", _labels),
        _section("label-issues", "Labels that look wrong", _label_issues),
    ]
    body = "".join(render_section(inp) for render_section in sections)
    shipped = s.get("shipped") or {}
    estimate = shipped.get("estimate") or {"mean": s["best_value"]}
    head = (
        f"<h1>automl search report: {escape(s['study'])}</h1><p>Data <code>{escape(s['data'])}"
        f"</code>; the shipped model's estimated {escape(s['metric'])} <b>{estimate['mean']:.4f}</b>"
        f"{_range(estimate)}; best single trial {s['best_value']:.4f} CV (trial "
        f"{s['best_trial']}) vs {s['baseline_value']:.4f} for the class prior; "
        f"{_trial_counts(s['trials'])} in {s['seconds']:.0f}s of a {escape(s['budget'])} "
        f"budget, stopped by {escape(s['stopped_by'])}; finished {escape(s['finished_at'])}.</p>"
    )
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>automl report:'
        f" {escape(s['study'])}</title><style>{_CSS}</style></head><body>{head}{body}"
        f'<footer class="note">Written {time.strftime("%Y-%m-%d %H:%M:%S")} by automl '
        f"report.</footer></body></html>"
    )


def _section(anchor: str, title: str, fill: Callable[[ReportInputs], str]) -> Callable[[ReportInputs], str]:
    def render_section(inp: ReportInputs) -> str:
        try:
            content = fill(inp)
        except ReportGap as e:
            content = _note(str(e))
        except Exception as e:
            log.warning("Report section %r failed: %s: %s", anchor, type(e).__name__, e)
            content = _note(f"This section could not be drawn ({type(e).__name__}: {e}).")
        return f'<section id="{anchor}"><h2>{escape(title)}</h2>{content}</section>'

    return render_section


def _range(estimate: dict) -> str:
    return f" (range {estimate['low']:.3f}-{estimate['high']:.3f})" if "low" in estimate else ""


def _shipped(inp: ReportInputs) -> str:
    shipped = inp.summary.get("shipped")
    if not shipped:
        raise ReportGap("This search's summary records no shipping decision (written by an older automl).")
    metric = escape(inp.summary["metric"])
    est = shipped["estimate"]
    pipelines = "".join(
        f"<li>{w:.2f} x trial {n}: <code>{escape(_describe(p))}</code></li>"
        for n, w, p in zip(shipped["members"], shipped["weights"], shipped["pipelines"])
    )
    parts = [
        f"<p>The model folder holds {'an ensemble' if len(shipped['members']) > 1 else 'one pipeline'}"
        f", chosen by the <b>{escape(shipped['rule'])}</b> rule:</p><ul>{pipelines}</ul>",
        f"<p>Its estimated {metric} is <b>{est['mean']:.4f}</b>{_range(est)} ± {est.get('std', 0):.3f}, "
        f"by {escape(shipped['estimate_kind'])}. The best single trial scored "
        f"{shipped['best_trial_cv']:.4f} ± {shipped['best_trial_cv_std']:.3f} in its own CV; that "
        "number is the best of many noisy estimates, so it is optimistic by about the gap between "
        "the two.</p>",
    ]
    rules = shipped.get("rules") or []
    if rules:
        parts.append(
            "<p>Each selection rule chose on the in-bag rows of 100 bootstrap resamples of the "
            "out-of-fold predictions (first CV repeat, which every trial was scored on) and was "
            "scored on the rows left out, with the second CV repeat's predictions for the trials "
            "that ran one: another partition of the rows, so a choice the first partition happened "
            "to favour is not scored on the same luck. "
            + (
                "Where the choice's trials were scored on more CV repeats, the estimate is moved "
                "by how much their first repeat beat the mean of all repeats (<i>repeat luck "
                "removed</i>): resampling rows cannot see the luck of the folds themselves. "
                if any(r.get("luck") for r in rules)
                else ""
            )
            + (
                "The best single pipeline that does not read the unlabelled pool is the default; "
                "an ensemble or a pipeline trained on the pool (rules marked <code>+pool</code>) "
                f"replaces it only when it estimates higher and scores higher on at least "
                f"{shipped['gate']:.0%} of the resamples where the two differ (<i>wins</i>).</p>"
                if "gate" in shipped
                # summaries written before the gate existed: the highest estimate shipped
                else "The rule with the highest estimate was shipped.</p>"
            )
        )
        body = [
            [
                ("&#10003; " if r["rule"] == shipped["rule"] else "") + escape(r["rule"]),
                _num(r["mean"]),
                _num(r["std"], 3),
                f"{r['low']:.3f}-{r['high']:.3f}",
                f"{r['wins']:.0%}" if r.get("wins") is not None else "",
                f"{-r['luck']:+.3f}" if r.get("luck") else "",
            ]
            for r in rules
        ]
        parts.append(
            _table(
                ["rule", metric, "± std", "10-90% range", "wins", "repeat luck removed"],
                body,
                numeric={1, 2},
                raw={0},
                table_id="selection-rules",
            )
        )
    cal = shipped.get("calibration")
    if cal:
        cv = ", ".join(f"{k} {v:.3f}" for k, v in cal["cv_log_loss"].items())
        parts.append(
            f"<h3>Calibration</h3><p>Chosen: <b>{escape(cal['method'])}</b>"
            + (f" (T = {cal['temperature']:.2f})" if "temperature" in cal else "")
            + f". Held-out log loss in CV over the out-of-fold predictions: {escape(cv)}. On all of "
            f"them: log loss {cal['log_loss_before']:.3f} -> {cal['log_loss_after']:.3f}, expected "
            f"calibration error {cal['ece_before']:.3f} -> {cal['ece_after']:.3f}.</p>"
        )
    return "".join(parts)


def _labels(inp: ReportInputs) -> str:
    path = inp.run_dir / "learning_curve.json"
    if not path.is_file():
        raise ReportGap("No learning curve was measured for this search (written by an older automl).")
    data = json.loads(path.read_text())
    notes = "".join(f"<li>{escape(s)}</li>" for s in data.get("skipped", []))
    if not data["curves"]:
        raise ReportGap("The learning curve was skipped: " + "; ".join(data.get("skipped", [])))
    shipped = set((inp.summary.get("shipped") or {}).get("members", []))
    sentences = "".join(
        f"<li>Trial {c['trial']}{', shipped' if c['trial'] in shipped else ''} "
        f"(<code>{escape(c['pipeline'])}</code>): {escape(c['sentence'])}.</li>"
        for c in data["curves"]
    )
    return (
        "<p>The pipeline re-scored on the same folds with 25, 50 and 75% of each training fold's labels "
        "per class; the dashed line and bars are the forecast at 2x and 4x the labels, with the range "
        "from a bootstrap over folds.</p>"
        f"<ul>{sentences}</ul>"
        + plots.learning_curves(data["curves"], inp.summary["metric"])
        + (f'<ul class="note">{notes}</ul>' if notes else "")
    )


def _label_issues(inp: ReportInputs) -> str:
    import pandas as pd

    path = inp.run_dir / "label_issues.csv"
    if not path.is_file():
        raise ReportGap("No label check was written for this search.")
    frame = pd.read_csv(path)
    if frame.empty:
        return _note("No labelled item's out-of-fold prediction disagrees confidently with its label.")
    body = [
        [
            r.rank,
            escape(str(r.item))[:120],
            escape(str(r.given_label)),
            escape(str(r.suggested_label)),
            _num(r.self_confidence, 2),
            _num(r.suggested_confidence, 2),
        ]
        for r in frame.head(20).itertuples()
    ]
    return (
        f"<p>{len(frame)} labelled item(s) whose out-of-fold probabilities point to another class "
        "(confident learning: per-class thresholds, least self-confident first, no more than the "
        "estimated number of wrong labels). This is advice: "
        "the labels were not changed. All of them are in <code>label_issues.csv</code>.</p>"
        + _table(
            ["rank", "item", "given", "suggested", "p(given)", "p(suggested)"],
            body,
            numeric={0, 4, 5},
            raw={1, 2, 3},
            table_id="label-issues-table",
        )
    )


def _describe(pipeline: dict) -> str:
    from automl.space.spec import PipelineSpec

    return PipelineSpec.from_dict(pipeline).describe()


def _regime(inp: ReportInputs) -> str:
    p = inp.profile
    counts = ", ".join(f"{escape(str(k))}: {v}" for k, v in p.class_counts.items())
    return f'<p>{escape(p.statement())}</p><p class="note">Rows per class: {counts}.</p>'


def _leaderboard(inp: ReportInputs) -> str:
    rows = ranked(trial_rows(inp.study), inp.maximize)[:LEADERBOARD_ROWS]
    if not rows:
        raise ReportGap("No trial completed.")
    metric = inp.summary["metric"]
    body = [
        [
            i,
            r.number,
            _num(r.value),
            _num(fold_std(r.fold_scores), 3),
            len(r.fold_scores),
            r.strategy,
            f"{r.seconds:.1f}",
            f"<code>{escape(r.pipeline)}</code>",
        ]
        for i, r in enumerate(rows, start=1)
    ]
    return _table(
        ["rank", "trial", metric, "± std", "folds", "strategy", "seconds", "pipeline"],
        body,
        numeric={0, 1, 2, 3, 4, 6},
        raw={7},
        table_id="leaderboard-table",
    )


def _history(inp: ReportInputs) -> str:
    rows = trial_rows(inp.study)
    if not rows:
        raise ReportGap("No trial finished.")
    return plots.history(
        rows, inp.maximize, inp.summary["metric"], inp.summary.get("baseline_value")
    ) + plots.best_over_time(rows, inp.maximize, inp.summary["metric"])


def _importance(inp: ReportInputs) -> str:
    found, notes = importances(inp.study)
    parts = [
        "<p>fANOVA importances (share of the score's variance explained). Across all "
        "trials only the choices every trial makes are comparable; each learner's own "
        "parameters are assessed within that learner's trials.</p>"
    ]
    if found:
        groups = {imp.scope: grouped(imp) for imp in found}
        names = sorted(
            {g for gs in groups.values() for g in gs},
            key=lambda g: -max(gs.get(g, 0.0) for gs in groups.values()),
        )
        scopes = [imp.scope for imp in found]
        header = ["group"] + [f"{sc} ({imp.n_trials} trials)" for sc, imp in zip(scopes, found)]
        body = [[g] + [_num(groups[sc].get(g), 2) if g in groups[sc] else "" for sc in scopes] for g in names]
        parts.append("<h3>Summed per strategy group</h3>")
        parts.append(_table(header, body, numeric=set(range(1, len(header)))))
        for imp in found[:3]:  # all trials, then the first learners: a page, not a catalogue
            title = "all trials" if imp.scope == ALL_TRIALS else f"within {imp.scope} trials"
            parts.append(f"<h3>Per parameter, {escape(title)}</h3>")
            parts.append(plots.bars(imp.values, "importance"))
    else:
        parts.append(_note("No importances could be estimated for this search."))
    if notes:
        parts.append('<ul class="note">' + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul>")
    return "".join(parts)


def _strategies(inp: ReportInputs) -> str:
    rows = trial_rows(inp.study)
    if not rows:
        raise ReportGap("No trial finished.")
    parts = []
    for key in ("learner", "strategy"):
        stats = group_stats(rows, key, inp.maximize)
        body = [
            [g.name, g.n_trials, g.n_complete, _num(g.best), _num(g.mean), f"{g.seconds:.1f}"] for g in stats
        ]
        parts.append(
            _table([key, "trials", "complete", "best", "mean", "seconds"], body, numeric={1, 2, 3, 4, 5})
        )
    parts.append("<h3>Time spent per learner</h3>")
    parts.append(plots.seconds_per_group(group_stats(rows, "learner", inp.maximize)))
    return "".join(parts)


def _folds(inp: ReportInputs) -> str:
    top = [r for r in ranked(trial_rows(inp.study), inp.maximize) if r.fold_scores][:SPREAD_TRIALS]
    if not top:
        raise ReportGap("No complete trial recorded fold scores.")
    return (
        "<p>Boxes that overlap mean the ranking between those trials is within the noise "
        "of cross-validation.</p>" + plots.fold_spread(top, inp.summary["metric"])
    )


def _quality(inp: ReportInputs) -> str:
    q = class_quality(inp.study, int(inp.summary["best_trial"]), inp.y, inp.classes)
    body = [
        [c, _num(p, 3), _num(r, 3), _num(f, 3), int(n)]
        for c, p, r, f, n in zip(q.classes, q.precision, q.recall, q.f1, q.support)
    ]
    ensemble = _ensemble_note(inp.run_dir)
    return (
        f"<p>Trial {q.trial}: every labelled example predicted by the fold model that did "
        f"not train on it ({int(q.confusion.sum())} examples).{ensemble}</p>"
        + plots.confusion(q)
        + _table(
            ["class", "precision", "recall", "F1", "support"],
            body,
            numeric={1, 2, 3, 4},
            table_id="per-class",
        )
    )


def _ensemble_note(run_dir: Path) -> str:
    meta_path = run_dir / "model" / "bundle.json"
    if not meta_path.is_file():
        return ""
    members = json.loads(meta_path.read_text()).get("ensemble") or []
    if len(members) < 2:
        return ""
    return f" The exported model is an ensemble of {len(members)} pipelines; this is its best single member."


def _table(
    header: list[str],
    rows: Iterable[list[Any]],
    numeric: AbstractSet[int] = frozenset(),
    raw: AbstractSet[int] = frozenset(),
    table_id: str | None = None,
) -> str:
    def cell(tag: str, i: int, v: Any) -> str:
        cls = ' class="num"' if i in numeric else ""
        return f"<{tag}{cls}>{v if i in raw else escape(str(v))}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>" for r in rows)
    ident = f' id="{table_id}"' if table_id else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _note(text: str) -> str:
    return f'<p class="note">{escape(text)}</p>'


def _num(v: float | None, digits: int = 4) -> str:
    return "" if v is None else f"{v:.{digits}f}"


def _trial_counts(trials: dict[str, int]) -> str:
    return ", ".join(f"{n} {state}" for state, n in trials.items()) + " trial(s)"
