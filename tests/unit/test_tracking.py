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


_CREATE_AT = """
import sys, time
from pathlib import Path
import mlflow.tracking  # imported before the start line: the two creations then overlap
from automl.tracking.mlflow_tracker import MlflowTracker
uri, at = sys.argv[1], float(sys.argv[2])
time.sleep(max(0.0, at - time.time()))
MlflowTracker(uri, "automl/race", Path(sys.argv[3]))
print("ok")
"""


def test_two_processes_create_a_new_sqlite_store_at_once(tmp_path: Path):
    """Two searches starting together on a new output folder both run MLflow's schema
    migration; without the lock one dies on "table alembic_version already exists"."""
    import subprocess
    import sys
    import time

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    at = str(time.time() + 6)  # both processes have imported MLflow by then
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CREATE_AT, uri, at, str(tmp_path / "mlartifacts")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0 and out.strip() == "ok", err[-2000:]


def test_unreachable_server_does_not_stop_the_search(caplog):
    """Construction and start warn once; trial logging raises, so the trial log retries it."""
    from automl.tracking.mlflow_tracker import MlflowTracker

    with caplog.at_level("WARNING", logger="automl"):
        t = MlflowTracker("http://127.0.0.1:1", "automl/down")
        assert t.start_search("down", {"data": "x.csv"}, "desc", resume_id=None) is None
        t.log_artifacts({"": Path(__file__)})
        t.finish_search({"best": 1.0}, best_trial=None, status="FINISHED")
        with pytest.raises(Exception, match="127.0.0.1"):
            t.log_trial(TrialRecord(0, "COMPLETE", {}, (0.5,), 0.5, 1, 2), "accuracy")
    warnings = [r.getMessage() for r in caplog.records if r.name == "automl" and r.levelname == "WARNING"]
    assert len(warnings) == 1 and "http://127.0.0.1:1" in warnings[0] and "goes on" in warnings[0]


def test_unsupported_tracking_scheme_is_a_config_error():
    from automl.exceptions import ConfigError
    from automl.tracking.mlflow_tracker import MlflowTracker

    with pytest.raises(ConfigError, match="foo://bar.*unsupported scheme"):
        MlflowTracker("foo://bar", "automl/x")
