"""The search report on a hand-made study whose every number is known."""

import json
import re
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from automl.cli import main
from automl.data.profile import DataProfile
from automl.report import save_labels, write_report
from automl.report.analysis import ReportGap, class_quality, group_stats, ranked, strategy_of, trial_rows
from automl.report.importance import ALL_TRIALS, grouped, importances, param_group
from automl.space.spec import ComponentSpec, PipelineSpec

CLASSES = ["cat", "dog", "owl"]
Y = np.repeat([0, 1, 2], 10)  # 30 labelled rows, 10 per class
DIST = {
    "learner": CategoricalDistribution(["logreg", "extra_trees"]),
    "tabular.scaler": CategoricalDistribution(["standard", "none", "quantile"]),
    "logreg.C": FloatDistribution(1e-3, 1e3, log=True),
    "extra_trees.n_estimators": IntDistribution(50, 500),
}


def oof_with_errors(wrong: dict[int, int]) -> list[list[float]]:
    """Confident out-of-fold probabilities: right on every row except {row: predicted class}."""
    pred = Y.copy()
    for row, cls in wrong.items():
        pred[row] = cls
    return (np.eye(3)[pred] * 0.8 + 0.2 / 3).round(4).tolist()


def add_trial(
    study,
    learner: str,
    scaler: str,
    param: str,
    value,
    errors: dict[int, int],
    state=optuna.trial.TrialState.COMPLETE,
) -> None:
    params = {"learner": learner, "tabular.scaler": scaler, f"{learner}.{param}": value}
    spec = PipelineSpec(ComponentSpec(learner, {param: value}), ComponentSpec("tabular", {"scaler": scaler}))
    score = 1 - len(errors) / len(Y)
    attrs = {"spec": spec.to_dict(), "fold_scores": [score - 0.02, score, score + 0.02], "fit_seconds": 0.1}
    if state == optuna.trial.TrialState.COMPLETE:
        attrs["oof"] = oof_with_errors(errors)
    study.add_trial(
        optuna.trial.create_trial(
            state=state,
            value=score if state == optuna.trial.TrialState.COMPLETE else None,
            params=params,
            distributions={k: DIST[k] for k in params},
            user_attrs=attrs,
            intermediate_values={0: score},
        )
    )


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A finished search's folder: summary, profile, labels, and its study in the default storage."""
    out = tmp_path / "out"
    run = out / "toy"
    run.mkdir(parents=True)
    study = optuna.create_study(
        study_name="toy", storage=f"sqlite:///{out / 'optuna.db'}", direction="maximize"
    )
    add_trial(study, "logreg", "standard", "C", 1.0, {0: 1, 11: 2})  # 0.933
    add_trial(study, "logreg", "none", "C", 0.01, {0: 1, 1: 1, 2: 1, 25: 0})  # 0.867
    add_trial(study, "extra_trees", "standard", "n_estimators", 100, {3: 2})  # 0.967 best
    add_trial(study, "extra_trees", "quantile", "n_estimators", 300, {3: 2, 4: 1, 12: 0})  # 0.9
    add_trial(study, "logreg", "quantile", "C", 100.0, {}, state=optuna.trial.TrialState.PRUNED)
    profile = DataProfile("tabular", 30, 3, {c: 10 for c in CLASSES}, numeric_columns=("a", "b"))
    (run / "profile.json").write_text(json.dumps(profile.to_dict()))
    (run / "summary.json").write_text(
        json.dumps(
            {
                "study": "toy",
                "data": "toy.csv",
                "metric": "accuracy",
                "best_value": 29 / 30,
                "best_trial": 2,
                "baseline_value": 1 / 3,
                "budget": "1m",
                "seconds": 12.0,
                "trials": {"complete": 4, "pruned": 1, "failed": 0},
                "stopped_by": "trials",
                "finished_at": "2026-01-01T00:00:00",
            }
        )
    )
    save_labels(run, Y, len(CLASSES))
    return run


def load(run_dir: Path) -> optuna.Study:
    return optuna.load_study(study_name="toy", storage=f"sqlite:///{run_dir.parent / 'optuna.db'}")


def test_report_has_every_section_and_the_right_leaderboard(run_dir: Path):
    path = write_report(run_dir)
    assert path == run_dir / "report.html"
    html = path.read_text()
    for section in ("regime", "leaderboard", "history", "importance", "strategies", "folds", "quality"):
        assert f'<section id="{section}">' in html
    assert "30 labelled tabular examples in 3 classes" in html
    table = re.search(r'<table id="leaderboard-table">.*?</table>', html, re.S).group(0)
    trials = [
        int(n) for n in re.findall(r"<tr><td class=\"num\">\d+</td><td class=\"num\">(\d+)</td>", table)
    ]
    assert trials == [2, 0, 3, 1]  # complete trials only, best first; the pruned one is not ranked
    assert html.count("<svg") >= 5  # history, importances, time, fold spread, confusion matrix
    assert "<script" not in html


def test_confusion_matrix_counts_every_labelled_row_once(run_dir: Path):
    q = class_quality(load(run_dir), 2, Y, CLASSES)
    assert q.confusion.sum() == len(Y)
    assert q.confusion[0, 2] == 1 and np.trace(q.confusion) == 29  # row 3: cat predicted owl
    assert q.support.tolist() == [10, 10, 10]
    assert q.recall[0] == pytest.approx(0.9) and q.precision[2] == pytest.approx(10 / 11)
    html = write_report(run_dir).read_text()
    assert "(30 examples)" in html


def test_sections_explain_what_they_cannot_show(run_dir: Path):
    (run_dir / "labels.json").unlink()
    html = write_report(run_dir).read_text()
    assert "The labels were not saved" in html
    with pytest.raises(ReportGap, match="another search"):
        class_quality(load(run_dir), 2, Y[:20], CLASSES)


def test_importances_guarded_and_grouped(run_dir: Path):
    found, notes = importances(load(run_dir))
    assert [imp.scope for imp in found] == [ALL_TRIALS]
    assert sum(found[0].values.values()) == pytest.approx(1.0)
    assert set(grouped(found[0])) <= {"learner choice", "features"}
    # Each learner has 2 complete trials: too few to say what mattered within it.
    assert any(n.startswith("logreg: 2 complete") for n in notes)

    single = optuna.create_study()
    single.add_trial(
        optuna.trial.create_trial(
            value=0.5, params={"learner": "logreg"}, distributions={"learner": DIST["learner"]}
        )
    )
    found, notes = importances(single)
    assert found == [] and "fewer than the 3" in notes[0]


@pytest.mark.parametrize(
    "name, group",
    [
        ("learner", "learner choice"),
        ("features", "features"),
        ("semi", "semi-supervised / SSL"),
        ("tabular.scaler", "features"),
        ("logreg.C", "classical learner"),
        ("image_embed.backbone", "backbone / encoder"),
        ("text_embed.encoder", "backbone / encoder"),
        ("image_finetune.augment.mixup", "augmentation"),
        ("image_finetune.reg.dropout", "regularisation"),
        ("image_finetune.finetune.mode", "fine-tuning"),
        ("image_finetune.lr", "fine-tuning"),
        ("pseudo_label.semi.threshold", "semi-supervised / SSL"),
    ],
)
def test_param_groups(name: str, group: str):
    assert param_group(name) == group


def test_strategies_and_time_per_learner(run_dir: Path):
    rows = trial_rows(load(run_dir))
    assert len(rows) == 5 and {r.strategy for r in rows} == {"classical"}
    stats = {g.name: g for g in group_stats(rows, "learner", maximize=True)}
    assert stats["logreg"].n_trials == 3 and stats["logreg"].n_complete == 2
    assert stats["extra_trees"].best == pytest.approx(29 / 30)
    assert [r.number for r in ranked(rows, maximize=False)][0] == 1
    embed = PipelineSpec(ComponentSpec("logreg"), ComponentSpec("image_embed"))
    assert strategy_of(embed) == "transfer"
    assert strategy_of(PipelineSpec(ComponentSpec("image_finetune"))) == "finetune"


def test_cli_rewrites_the_report(run_dir: Path, capsys):
    assert main(["report", "--run", str(run_dir), "-q"]) == 0
    assert capsys.readouterr().out.strip() == str(run_dir / "report.html")
    assert main(["report", "--run", str(run_dir.parent / "nope"), "-q"]) == 2


def test_a_failing_report_never_fails_the_search(wine_csv: Path, tmp_path: Path, monkeypatch, caplog):
    import automl.report
    from automl.config import Budget, SearchConfig
    from automl.logger import log
    from automl.search.orchestrator import search
    from automl.tracking.base import NullTracker

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(automl.report, "write_report", broken)
    # An in-process CLI run earlier in the session stops the library logger propagating.
    monkeypatch.setattr(log, "propagate", True)
    config = SearchConfig(data=wine_csv, budget=Budget.parse("1m"), trials=1, output=tmp_path / "o", n_jobs=1)
    result = search(config, tracker=NullTracker())
    assert (result.model_dir / "bundle.json").is_file()
    assert "Could not write the search report: RuntimeError: disk full" in caplog.text
    assert (result.run_dir / "labels.json").is_file()  # written before the report failed
