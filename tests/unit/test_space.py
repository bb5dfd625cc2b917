from pathlib import Path

import numpy as np
import optuna
import pytest

from automl.data.dataset import Dataset, Modality
from automl.data.profile import profile_dataset
from automl.exceptions import SearchSpaceError
from automl.space.domains import FloatDomain, IntDomain
from automl.space.preset import build_space, load_space, preset_path
from automl.space.sample import start_points, suggest_pipeline
from automl.space.spec import PipelineSpec


@pytest.fixture
def profile(iris_frame):
    X = iris_frame.drop(columns="target")
    return profile_dataset(Dataset(Modality.TABULAR, X, iris_frame["target"].to_numpy(), "iris"))


def test_tabular_preset_loads_and_starts_cheap(profile):
    space = load_space(None, profile)
    assert {"probe", "logreg", "xgboost"} <= set(space.learners)
    assert space.start[0].learner == "probe"  # tunes its own C: the cheap strong first trial


def test_narrowing_outside_domain_is_an_error(profile):
    with pytest.raises(SearchSpaceError, match=r"outside the legal domain"):
        build_space(
            {"learners": {"logreg": {"C": {"low": 1e-9, "high": 1}}}, "features": {"tabular": {}}}, profile
        )


def test_unknown_names_get_suggestions(profile):
    with pytest.raises(SearchSpaceError, match="Did you mean 'logreg'"):
        build_space({"learners": {"logreg2": {}}, "features": {"tabular": {}}}, profile)
    with pytest.raises(SearchSpaceError, match="Did you mean 'penalty'"):
        build_space({"learners": {"logreg": {"penalti": ["l2"]}}, "features": {"tabular": {}}}, profile)
    with pytest.raises(SearchSpaceError, match="unknown top-level"):
        build_space({"learner": {}}, profile)


def test_learner_without_featuriser_is_an_error(profile):
    with pytest.raises(SearchSpaceError, match="need a featuriser"):
        build_space({"learners": {"logreg": {}}}, profile)


def test_user_yaml_file(tmp_path: Path, profile):
    p = tmp_path / "space.yaml"
    p.write_text("learners:\n  logreg: {penalty: l2, C: {low: 0.1, high: 1}}\nfeatures:\n  tabular: {}\n")
    space = load_space(p, profile)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(10):
        spec = suggest_pipeline(study.ask(), space)
        assert spec.learner.name == "logreg" and spec.learner.params["penalty"] == "l2"
        assert 0.1 <= spec.learner.params["C"] <= 1
    with pytest.raises(SearchSpaceError, match="does not exist"):
        load_space(tmp_path / "nope.yaml", profile)


def test_conditional_param_only_when_active(profile):
    space = load_space(None, profile)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen = set()
    for _ in range(60):
        spec = suggest_pipeline(study.ask(), space)
        if spec.learner.name == "logreg":
            seen.add(spec.learner.params["penalty"])
            assert ("l1_ratio" in spec.learner.params) == (spec.learner.params["penalty"] == "elasticnet")
    assert "elasticnet" in seen and "l2" in seen


def test_start_points_are_valid_enqueued_trials(profile):
    space = load_space(None, profile)
    study = optuna.create_study()
    for params in start_points(space, profile):
        study.enqueue_trial(params)
    specs = [suggest_pipeline(study.ask(), space) for _ in space.start]
    assert [s.learner.name for s in specs] == [p.learner for p in space.start]
    # The probe's default for iris's 50/50/50 labels (see default_class_weight).
    assert specs[0].learner.params == {"class_weight": "balanced"}


def test_linear_start_points_weigh_classes_unless_the_counts_look_like_priors(iris_frame):
    """Counts gathered per class (within 1.5x) and skewed past 3x start balanced; counts
    between look like the classes' priors, which accuracy gains from, and start unweighted."""
    from automl.components.base import LEARNERS

    X = iris_frame.drop(columns="target")
    for counts, expected in [((8, 8, 7), "balanced"), ((20, 10, 8), "none"), ((40, 10, 8), "balanced")]:
        y = np.repeat(np.arange(3), counts)
        prof = profile_dataset(Dataset(Modality.TABULAR, X.iloc[: len(y)], y, "counts"))
        for learner in ("probe", "logreg"):
            assert LEARNERS.get(learner).defaults(prof)["class_weight"] == expected, (counts, learner)


def test_spec_round_trip_and_flat_params():
    d = {
        "learner": {"name": "logreg", "params": {"C": 0.5}},
        "features": {"name": "image_embed", "params": {"backbone": "b0", "augment.flip": True}},
    }
    spec = PipelineSpec.from_dict(d)
    assert PipelineSpec.from_dict(spec.to_dict()) == spec
    flat = spec.flat_params()
    assert flat == {
        "learner": "logreg",
        "features": "image_embed",
        "semi": "none",
        "logreg.C": 0.5,
        "backbone": "b0",
        "augment.flip": True,
    }


def test_domains_narrow_and_fix():
    d = FloatDomain(0.0, 1.0).narrow("x", {"low": 0.2, "high": 0.4})
    assert (d.low, d.high) == (0.2, 0.4)
    assert IntDomain(1, 10).narrow("n", 3).value == 3
    with pytest.raises(SearchSpaceError):
        IntDomain(1, 10).narrow("n", 11)


def test_preset_files_have_purpose_and_cost_headers():
    for path in preset_path("tabular").parent.glob("*.yaml"):
        head = path.read_text().splitlines()[:4]
        assert any(line.startswith("# purpose:") for line in head), path
        assert any(line.startswith("# cost:") for line in head), path


def test_start_points_can_set_values(profile):
    raw = {
        "learners": {"logreg": {}},
        "features": {"tabular": {}},
        "start": [
            {"learner": "logreg", "features": "tabular", "with": {"C": 0.1, "scaler": "none"}},
            {"learner": "logreg", "features": "tabular", "with": {"C": 1e9}},
        ],
    }
    space = build_space(raw, profile)
    assert len(space.start) == 1 and "skipped" in " ".join(space.notes)  # 1e9 is not legal
    study = optuna.create_study()
    study.enqueue_trial(start_points(space, profile)[0])
    spec = suggest_pipeline(study.ask(), space)
    assert spec.learner.params["C"] == 0.1 and spec.features.params["scaler"] == "none"
    with pytest.raises(SearchSpaceError, match="unknown parameter"):
        build_space({**raw, "start": [{"learner": "logreg", "with": {"gamma": 1}}]}, profile)


@pytest.mark.parametrize("per_class, kept", [(20, False), (200, True)])
def test_trees_and_sparse_penalties_on_image_embeddings_need_more_images_than_dimensions(
    monkeypatch, per_class, kept
):
    from automl.components.images import backbones
    from automl.data.profile import DataProfile

    monkeypatch.setattr(backbones, "narrowest_width", lambda: 1280)
    counts = {str(c): per_class for c in range(10)}
    profile = DataProfile(modality="image", n_rows=10 * per_class, n_classes=10, class_counts=counts)
    space = build_space({"learners": {"probe": {}, "xgboost": {}}, "features": {"image_embed": {}}}, profile)
    assert ("xgboost" in space.learners) is kept
    logreg = build_space({"learners": {"logreg": {}}, "features": {"image_embed": {}}}, profile).learners[
        "logreg"
    ]
    assert set(logreg["penalty"].choices) == ({"l2", "l1", "elasticnet"} if kept else {"l2"})
    assert any("xgboost" in n and "1280 dimensions" in n for n in space.notes) is not kept
    # Tables keep their trees at any size.
    table = DataProfile(modality="tabular", n_rows=40, n_classes=2, class_counts={"a": 20, "b": 20})
    assert (
        "xgboost" in build_space({"learners": {"xgboost": {}}, "features": {"tabular": {}}}, table).learners
    )
