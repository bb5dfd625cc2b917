"""The live status panel renders what the study holds."""

import optuna

from automl.pipeline.metrics import METRICS
from automl.search.budget import Deadline
from automl.search.progress import SearchStatus
from automl.space.spec import ComponentSpec, PipelineSpec


def test_status_shows_counts_best_and_leaderboard():
    from rich.console import Console

    study = optuna.create_study(direction="maximize")
    for value, C in ((0.7, 1.0), (0.9, 3.0), (0.8, 2.0)):
        t = study.ask()
        t.set_user_attr("spec", PipelineSpec(ComponentSpec("logreg", {"C": C})).to_dict())
        study.tell(t, value)
    study.tell(study.ask(), state=optuna.trial.TrialState.PRUNED)
    status = SearchStatus(Deadline(600), METRICS.get("accuracy"), "demo")
    status.update(study)
    console = Console(record=True, width=120)
    console.print(status)
    text = console.export_text()
    assert "3 complete, 1 pruned, 0 failed" in text
    assert "best accuracy 0.9000 (trial 1)" in text and "C=3" in text
    rows = [line for line in text.splitlines() if line.strip().startswith(("0 ", "1 ", "2 "))]
    assert [r.split()[0] for r in rows] == ["1", "2", "0"]  # best first


def test_a_resumed_study_reserves_its_best_trials_refit():
    """A resume that runs no new trial still refits the best one: its refit time (1.5x its
    fit) is reserved up front, not the budget's 5% floor a learning curve could eat into."""
    from automl.search.orchestrator import reserve_for_best

    study = optuna.create_study(direction="maximize")
    for value, seconds in ((0.9, 40.0), (0.7, 1.0)):
        t = study.ask()
        t.set_user_attr("fit_seconds", seconds)
        study.tell(t, value)
    fresh, resumed = Deadline(300), Deadline(300)
    reserve_for_best(study, resumed, maximize=True)
    assert fresh.reserve == 15.0 and resumed.reserve == 60.0


def test_a_time_stopped_best_reserves_its_whole_schedule():
    """SetFit whose folds ran a quarter of their steps in 20 s each: the refit reserve counts
    the 80 s a fold's whole schedule takes (1.5x: 120 s), not the 20 s the folds ran; a
    learner that ran its schedule reserves by its fit time as before."""
    from automl.search.orchestrator import reserve_for_best

    def reserve(attrs: dict) -> float:
        study = optuna.create_study(direction="maximize")
        t = study.ask()
        for k, v in attrs.items():
            t.set_user_attr(k, v)
        study.tell(t, 0.8)
        deadline = Deadline(600)
        reserve_for_best(study, deadline, maximize=True)
        return deadline.reserve

    assert reserve({"fit_seconds": 20.0, "time_stopped": True, "full_fit_seconds": 80.0}) == 120.0
    assert reserve({"fit_seconds": 20.0}) == 30.0
