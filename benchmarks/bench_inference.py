"""Prediction speed. For each modality a one-trial search trains a probe model; then
`Predictor.predict_proba` is timed on the test split (rows/s, images/s, texts/s, clips/s) next
to the bare (channels-last PyTorch) forward pass of the same backbone on the same inputs,
decoding included; images are timed again with ONNX Runtime switched off when it is installed. A second
table times the image backbone alone: eager PyTorch, channels-last (what automl uses) and ONNX
Runtime when it is installed (outputs compared to the eager ones).

    python benchmarks/bench_inference.py [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("HF_HUB_OFFLINE", "1")
DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def best_of(fn, repeats: int, *args) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return min(times)


def train(data: Path, out: Path, space: str) -> Path:
    from automl.cli import main

    (out / "space.yaml").write_text(space)
    assert (
        main(
            [
                "search",
                "--data",
                str(data),
                "--budget",
                "5m",
                "--trials",
                "1",
                "--output",
                str(out / "runs"),
                "--space",
                str(out / "space.yaml"),
                "-q",
            ]
        )
        == 0
    )
    return next((out / "runs").glob("*/model"))


def image_bare(paths: np.ndarray, channels_last: bool) -> None:
    import torch

    from automl.components.images.backbones import BACKBONES, create_backbone
    from automl.components.images.transforms import eval_transform
    from automl.data.images import read_rgb

    info = BACKBONES.get("efficientnet_lite0")
    model = create_backbone("efficientnet_lite0").eval()
    tf = eval_transform(128, info.mean, info.std)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    with torch.inference_mode():
        for i in range(0, len(paths), 64):
            x = torch.stack([tf(read_rgb(p)) for p in paths[i : i + 64]])
            model(x.contiguous(memory_format=torch.channels_last) if channels_last else x)


def text_bare(texts: list[str]) -> None:
    import torch

    from automl.components.text.encoders import encode, load_model, load_tokenizer

    model, tok = load_model("minilm").eval(), load_tokenizer("minilm")
    with torch.inference_mode():
        encode(model, tok, texts, 64, "mean", True)


SPACES = {
    "image": "# purpose: bench  # cost: s\nlearners: {probe: {}}\nfeatures: {image_embed: {backbone: efficientnet_lite0, resolution: 128, augment.views: 0}}\nstart: [{learner: probe, features: image_embed}]\n",
    "text": "# purpose: bench  # cost: s\nlearners: {probe: {}}\nfeatures: {text_embed: {encoder: minilm, max_length: 64, augment.views: 0}}\nstart: [{learner: probe, features: text_embed}]\n",
    "audio": "# purpose: bench  # cost: s\nlearners: {probe: {}}\nfeatures: {audio_mfcc: {augment.views: 0}}\nstart: [{learner: probe, features: audio_mfcc}]\n",
    "table": "# purpose: bench  # cost: s\nlearners: {probe: {}}\nfeatures: {tabular: {}}\nstart: [{learner: probe, features: tabular}]\n",
}


def backbone_table(repeats: int) -> None:
    import torch

    from automl.components.images.backbones import create_backbone

    model = create_backbone("efficientnet_lite0").eval()
    x = torch.randn(64, 3, 128, 128)
    with torch.inference_mode():
        ref = model(x)
        eager = best_of(lambda: model(x), repeats)
        cl_model = create_backbone("efficientnet_lite0").eval().to(memory_format=torch.channels_last)
        xc = x.contiguous(memory_format=torch.channels_last)
        cl = best_of(lambda: cl_model(xc), repeats)
        cl_diff = float((cl_model(xc) - ref).abs().max())
    print(
        f"\nEfficientNet-Lite0, 64 images at 128 px, {torch.get_num_threads()} thread(s), best of {repeats}:"
    )
    print(f"  eager PyTorch        {64 / eager:7.1f} images/s")
    print(f"  channels-last        {64 / cl:7.1f} images/s  ({eager / cl:.2f}x, max |diff| {cl_diff:.1e})")
    from automl.components.images import onnx_runtime

    # automl's own path: exported once, checked against PyTorch, None when unavailable
    forward = (
        onnx_runtime.ort_forward(model, ("bench", None), 128, torch.get_num_threads())
        if onnx_runtime.enabled("cpu")
        else None
    )
    if forward is None:
        print("  ONNX Runtime: not measured (not installed, AUTOML_ONNX=0, or it did not match PyTorch)")
        return
    import onnxruntime as ort

    xs = x.numpy()
    onnx_t = best_of(lambda: forward(xs), repeats)
    diff = float(np.abs(forward(xs) - ref.numpy()).max())
    print(
        f"  ONNX Runtime {ort.__version__:7} {64 / onnx_t:7.1f} images/s  ({eager / onnx_t:.2f}x, max |diff| {diff:.1e})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from automl.components.images import onnx_runtime
    from automl.predict import Predictor

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cifar_test = np.array(
            sorted(str(p) for p in (DATA / "cifar10-few" / "test").rglob("*.jpg")), dtype=object
        )
        sst2 = pd.read_csv(DATA / "sst2-few" / "test.csv")["text"].astype(str).tolist()
        fsdd = np.array(sorted(str(p) for p in (DATA / "fsdd-few" / "test").rglob("*.wav")), dtype=object)
        from sklearn.datasets import load_digits

        digits = load_digits(as_frame=True).frame.rename(columns={"target": "label"})
        digits.iloc[:1000].to_csv(work / "digits.csv", index=False)
        table_X = pd.concat([digits.drop(columns="label")] * 20, ignore_index=True)
        jobs = [
            (
                "image",
                DATA / "cifar10-few" / "train",
                cifar_test,
                "images",
                lambda: image_bare(cifar_test, True),
            ),
            ("text", DATA / "sst2-few" / "train.csv", sst2, "texts", lambda: text_bare(sst2)),
            ("audio", DATA / "fsdd-few" / "train", fsdd, "clips", None),
            ("table", work / "digits.csv", table_X, "rows", None),
        ]
        for kind, train_data, X, unit, bare in jobs:
            folder = work / kind
            folder.mkdir()
            model = train(train_data, folder, SPACES[kind])
            predictor = Predictor.load(model)
            inputs = np.asarray(X, dtype=object) if kind == "text" else X
            predictor.predict_proba(inputs[:8])  # load the backbone once, outside the timing
            t = best_of(predictor.predict_proba, args.repeats, inputs)
            b = best_of(bare, args.repeats) if bare else None
            rows.append((kind, len(X), unit, len(X) / t, len(X) / b if b else None))
            if kind == "image" and onnx_runtime.enabled("cpu"):
                os.environ[onnx_runtime.SWITCH] = "0"  # the same model, PyTorch only
                t = best_of(predictor.predict_proba, args.repeats, inputs)
                os.environ.pop(onnx_runtime.SWITCH)
                rows.append(("image, PyTorch only", len(X), unit, len(X) / t, len(X) / b if b else None))
    print(f"\npredict throughput, {args.threads} thread(s), best of {args.repeats} (no embedding cache):")
    print(f"{'modality':20} {'items':>6} {'automl predict':>20} {'bare forward':>18}")
    for kind, n, unit, auto, bare in rows:
        bare_s = f"{bare:9.1f} {unit}/s" if bare else "              -"
        print(f"{kind:20} {n:6d} {auto:11.1f} {unit}/s {bare_s}")
    backbone_table(args.repeats)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
