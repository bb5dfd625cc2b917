"""The real CLI on generated clips: search, predict; and the real packaged speech encoder."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sf = pytest.importorskip("soundfile")
pytest.importorskip("librosa")

from automl.cli import main  # noqa: E402

SPACE = """# purpose: test  # cost: seconds
learners:
  logreg: {}
features:
  audio_mfcc: {augment.views: {low: 0, high: 1}}
start:
  - {learner: logreg, features: audio_mfcc}
"""


def write_clips(root: Path, n: int = 6) -> None:
    rng = np.random.default_rng(0)
    for label, f in (("hum", 150.0), ("whistle", 1200.0), ("hiss", None)):
        (root / label).mkdir(parents=True)
        for i in range(n):
            t = np.arange(4000) / 8000
            wave = (
                rng.normal(0, 0.3, t.size) if f is None else 0.5 * np.sin(2 * np.pi * f * (1 + 0.03 * i) * t)
            )
            sf.write(root / label / f"{i}.wav", wave.astype(np.float32), 8000)


def test_audio_search_and_predict(tmp_path: Path):
    write_clips(tmp_path / "clips")
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    out = tmp_path / "runs"
    assert (
        main(
            [
                "search",
                "--data",
                str(tmp_path / "clips"),
                "--budget",
                "3m",
                "--trials",
                "3",
                "--space",
                str(space),
                "--output",
                str(out),
                "--cv",
                "3",
                "-q",
            ]
        )
        == 0
    )
    model = next(out.glob("*/model"))  # "clips" is generic: the study is named after its parent
    assert (
        main(
            [
                "predict",
                "--model",
                str(model),
                "--data",
                str(tmp_path / "clips"),
                "--out",
                str(tmp_path / "p.csv"),
            ]
        )
        == 0
    )
    pred = pd.read_csv(tmp_path / "p.csv")
    assert list(pred.columns[:2]) == ["path", "prediction"] and len(pred) == 18
    truth = pred["path"].map(lambda p: Path(p).parent.name)
    assert (pred["prediction"] == truth).mean() > 0.9


@pytest.mark.slow
def test_packaged_speech_encoder_gives_real_embeddings(shared_datasets):
    pytest.importorskip("resemblyzer")
    from automl.components.audio.encoders import AUDIO_ENCODERS

    embed = AUDIO_ENCODERS.get("resemblyzer").load()
    digits = shared_datasets / "fsdd-few" / "train"
    from automl.components.audio.signal import load_wave

    a1, a2 = sorted((digits / "0").glob("*.wav"))[:2]
    b = sorted((digits / "7").glob("*.wav"))[0]
    va, vb, vc = (embed(load_wave(str(p))) for p in (a1, a2, b))
    assert va.shape == (256,) and abs(np.linalg.norm(va) - 1) < 1e-3  # unit-norm GE2E output
    assert not np.allclose(va, vc)
