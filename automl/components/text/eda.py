"""EDA text augmentation (Wei & Zou, 2019): synonym replacement, random insertion, random
swap and random deletion, each touching about ``strength`` of the words.

Synonyms come from the encoder's own word-piece embedding table: the nearest whole-word
tokens by cosine similarity. No thesaurus ships offline on PyPI; this one always matches the
encoder's vocabulary and needs no download. (It finds related words, not strict synonyms:
"good" -> "great", "decent"; that is the kind of perturbation EDA relies on.)
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

_WORD = re.compile(r"^[a-z]{3,}$")
STOPWORDS = frozenset(
    "the a an and or but if of to in on at by for with from is are was were be been "
    "it its this that these those i you he she we they me him her us them my your "
    "our their not no as so than too very can will just do does did has have had".split()
)


class Thesaurus:
    def __init__(self, vocab: dict[str, int], embeddings: np.ndarray, k: int = 8) -> None:
        words = [w for w in vocab if _WORD.match(w)]
        self.words = words
        self.index = {w: i for i, w in enumerate(words)}
        vecs = embeddings[[vocab[w] for w in words]].astype(np.float32)
        self.vecs = vecs / (np.linalg.norm(vecs, axis=1, keepdims=True) + 1e-8)
        self.k = k
        self._synonyms: dict[str, tuple[str, ...]] = {}  # a vocabulary's worth at most

    def synonyms(self, word: str) -> tuple[str, ...]:
        key = word.lower()
        if key not in self._synonyms:
            self._synonyms[key] = self._nearest(key)
        return self._synonyms[key]

    def _nearest(self, word: str) -> tuple[str, ...]:
        i = self.index.get(word)
        if i is None or word in STOPWORDS:
            return ()
        sims = self.vecs @ self.vecs[i]
        top = min(self.k + 1, len(sims) - 1)
        best = np.argpartition(-sims, top)[: top + 1]
        best = best[np.argsort(-sims[best])]
        return tuple(self.words[j] for j in best if j != i and sims[j] > 0.4)[: self.k]


@lru_cache(maxsize=2)
def thesaurus_for(encoder: str) -> Thesaurus:
    from automl.components.text.encoders import frozen_model, load_tokenizer

    tok = load_tokenizer(encoder)
    emb = frozen_model(encoder, "cpu").get_input_embeddings().weight.detach().cpu().numpy()
    return Thesaurus(tok.get_vocab(), emb)


def eda(text: str, strength: float, rng: np.random.Generator, thesaurus: Thesaurus | None) -> str:
    """One augmented copy of ``text``; strength 0 returns it unchanged."""
    words = text.split()
    if strength <= 0 or len(words) < 2:
        return text
    n = max(1, int(round(strength * len(words))))
    op = int(rng.integers(4))
    if op == 0 and thesaurus is not None:  # synonym replacement
        positions = [i for i, w in enumerate(words) if thesaurus.synonyms(w.lower())]
        for i in rng.permutation(positions)[:n]:
            words[i] = str(rng.choice(thesaurus.synonyms(words[i].lower())))
    elif op == 1 and thesaurus is not None:  # random insertion of a synonym of some word
        for _ in range(n):
            cand = [w for w in words if thesaurus.synonyms(w.lower())]
            if not cand:
                break
            words.insert(
                int(rng.integers(len(words) + 1)),
                str(rng.choice(thesaurus.synonyms(str(rng.choice(cand)).lower()))),
            )
    elif op == 2:  # random swap
        for _ in range(n):
            i, j = rng.integers(len(words), size=2)
            words[i], words[j] = words[j], words[i]
    else:  # random deletion, keeping at least one word
        keep = rng.random(len(words)) > strength
        if keep.any():
            words = [w for w, k in zip(words, keep) if k]
    return " ".join(words)
