"""MLflow runs carry the same names in every modality, so the compare view lines trials up."""

from pathlib import Path

import pytest

from automl.space.spec import ComponentSpec, PipelineSpec
from automl.tracking.base import TrialRecord

SPECS = {  # one trial per modality's typical pipeline
    "tabular": PipelineSpec(
        ComponentSpec("logreg", {"C": 1.0}), ComponentSpec("tabular", {"scaler": "none"})
    ),
    "image": PipelineSpec(
        ComponentSpec(
            "image_finetune",
            {"backbone": "b0", "finetune.mode": "full", "augment.mixup": 0.2, "reg.dropout": 0.1, "lr": 1e-3},
        )
    ),
    "text": PipelineSpec(
        ComponentSpec("logreg", {"C": 0.5}),
        ComponentSpec("text_embed", {"encoder": "minilm", "augment.views": 2}),
        ComponentSpec("pseudo_label", {"semi.threshold": 0.9}),
    ),
}


@pytest.fixture
def tracker(tmp_path: Path):
    from automl.tracking.mlflow_tracker import MlflowTracker

    t = MlflowTracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "automl/names", tmp_path / "mlartifacts")
    t.start_search("names", {"data": "x.csv"}, description="30 labelled examples ...", resume_id=None)
    return t


def test_trial_runs_use_shared_names_and_cv_metrics(tracker):
    for i, spec in enumerate(SPECS.values()):
        tracker.log_trial(
            TrialRecord(
                i,
                "COMPLETE",
                spec.flat_params(),
                (0.8, 0.9),
                0.85,
                1_000,
                2_000,
                extra_metrics={"fit_seconds": 0.5},
            ),
            "accuracy",
        )
    runs = {
        r.data.tags["automl.trial"]: r
        for r in tracker.client.search_runs(
            [tracker.experiment_id], filter_string="tags.`automl.kind` = 'trial'"
        )
    }
    params = {name: runs[str(i)].data.params for i, name in enumerate(SPECS)}
    for p in params.values():
        assert {"learner", "features", "semi"} <= set(p)
    assert params["image"]["backbone"] == "b0" and params["text"]["encoder"] == "minilm"
    assert {"finetune.mode", "augment.mixup", "reg.dropout", "image_finetune.lr"} <= set(params["image"])
    assert {"augment.views", "semi.threshold", "logreg.C"} <= set(params["text"])
    assert params["text"]["semi"] == "pseudo_label" and params["tabular"]["features"] == "tabular"
    for run in runs.values():
        m = run.data.metrics
        assert m["cv_mean"] == pytest.approx(0.85) and m["cv_std"] == pytest.approx(0.05)
        assert {"accuracy", "fold_accuracy", "fit_seconds", "duration_s"} <= set(m)
        assert run.data.tags["mlflow.parentRunId"] == tracker.parent_id
    parent = tracker.client.get_run(tracker.parent_id)
    assert parent.data.tags["mlflow.note.content"].startswith("30 labelled examples")
