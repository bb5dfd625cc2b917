"""Class-per-sub-folder datasets (images, audio): scanning, bad files, predict-time inputs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from automl.exceptions import DataError
from automl.logger import log

# A few unreadable files should not sink a search; past this share the folder is suspect.
MAX_BAD_FRACTION = 0.2
# What operating systems and zip tools leave in folders: macOS "._x.png" AppleDouble files,
# .DS_Store and __MACOSX/, Windows Thumbs.db/desktop.ini. Never data, never "corrupt".
SYSTEM_NAMES = {"__MACOSX", "Thumbs.db", "desktop.ini"}


def is_hidden(path: Path, root: Path) -> bool:
    return any(p.startswith(".") or p in SYSTEM_NAMES for p in path.relative_to(root).parts)


def visible_files(root: Path, suffixes: set[str] | None = None) -> list[Path]:
    """Files under ``root`` (any depth, sorted) with one of ``suffixes``, hidden ones left out."""
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not is_hidden(p, root) and (suffixes is None or p.suffix.lower() in suffixes)
    )


def scan_class_folders(
    root: Path, suffixes: set[str], check: Callable[[Path], str | None], kind: str
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(absolute paths, labels, notes) from ``root/<class>/<file>``.

    ``check(path)`` returns None for a usable file or the reason it is not; unusable files are
    skipped with a warning and listed in the notes.
    """
    classes = sorted(d for d in root.iterdir() if d.is_dir() and not is_hidden(d, root))
    if not classes:
        raise DataError(
            f"{root} has no class sub-folders. Put each class's {kind} files in its "
            f"own sub-folder: {root}/<class name>/<file>."
        )
    if len(classes) == 1:
        inner = [d for d in classes[0].iterdir() if d.is_dir() and not is_hidden(d, root)]
        if len(inner) >= 2 and all(visible_files(d, suffixes) for d in inner):
            raise DataError(
                f"{root} holds one folder, {classes[0].name}, whose sub-folders "
                f"({', '.join(sorted(d.name for d in inner)[:5])}{', ...' if len(inner) > 5 else ''}) "
                f"look like the classes: pass --data {classes[0]} instead."
            )
    paths, labels, bad, notes = [], [], [], []
    empty = []
    for d in classes:
        files = visible_files(d, suffixes)
        if not files:
            empty.append(d.name)
            continue
        for f in files:
            why = check(f)
            if why:
                bad.append(f"{f} ({why})")
            else:
                paths.append(str(f.resolve()))
                labels.append(d.name)
    if empty:
        notes.append(
            f"Class folder(s) {empty} hold no {kind} files ({', '.join(sorted(suffixes))}) and are ignored."
        )
        log.warning(notes[-1])
    total = len(paths) + len(bad)
    if bad:
        notes.append(
            f"Skipped {len(bad)} unusable {kind} file(s): "
            + "; ".join(bad[:10])
            + (" ..." if len(bad) > 10 else "")
        )
        log.warning(notes[-1])
        if len(bad) > MAX_BAD_FRACTION * total:
            raise DataError(
                f"{len(bad)} of {total} {kind} files in {root} are unusable (first: "
                f"{bad[0]}). Fix or remove them; more than {MAX_BAD_FRACTION:.0%} "
                "bad files usually means a wrong folder or format."
            )
    if not paths:
        raise DataError(f"No usable {kind} files under {root}.")
    return np.array(paths, dtype=object), np.array(labels, dtype=object), notes


def scan_flat_folder(
    root: Path, suffixes: set[str], check: Callable[[Path], str | None], kind: str
) -> tuple[np.ndarray, list[str]]:
    """Every usable file under ``root`` (any depth): unlabelled pools and predict inputs."""
    if root.is_file():
        if root.suffix.lower() in suffixes:
            files = [root]
        else:  # a text file listing paths, one per line
            files = _listed_files(root, suffixes, kind)
    else:
        files = visible_files(root, suffixes)
    good, bad = [], []
    for f in files:
        why = check(f)
        (bad.append(f"{f} ({why})") if why else good.append(str(Path(f).resolve())))
    notes = []
    if bad:
        notes.append(f"Skipped {len(bad)} unusable {kind} file(s): " + "; ".join(bad[:10]))
        log.warning(notes[-1])
    if not good:
        held = _what_it_holds(root) if root.is_dir() else ""
        raise DataError(
            f"No usable {kind} files in {root} (looked for {', '.join(sorted(suffixes))}){held}. "
            f"Pass {kind} files, or use a model trained on the kind of files this holds."
        )
    return np.array(good, dtype=object), notes


def _what_it_holds(root: Path, top: int = 3) -> str:
    """ "; it holds 12 .wav, 1 .txt": what is there instead, by file type."""
    from collections import Counter

    counts = Counter(f.suffix.lower() or "(no extension)" for f in visible_files(root))
    if not counts:
        return "; it holds no files"
    return "; it holds " + ", ".join(f"{n} {ext}" for ext, n in counts.most_common(top))


def _listed_files(listing: Path, suffixes: set[str], kind: str) -> list[Path]:
    """The files a text file lists, one path per line; all must exist."""
    try:
        lines = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
    except (UnicodeDecodeError, OSError):
        lines = []
    files = [Path(line) for line in lines]
    missing = [str(f) for f in files if not f.is_file()]
    if not files or len(missing) == len(files):
        raise DataError(
            f"{listing} is not {kind} data: not an {kind} file ({', '.join(sorted(suffixes))}), not a "
            f"folder of them, and its lines are not paths of {kind} files"
            + (f" (the first line is {missing[0][:80]!r})" if missing else "")
            + f". This needs {kind} files: pass one, a folder of them, or a text file listing their paths."
        )
    if missing:
        raise DataError(
            f"{listing} lists {len(missing)} {kind} file(s) that do not exist, e.g. {missing[0]}. "
            "Fix the paths (relative ones are read from the current folder) or remove those lines."
        )
    return files


def duplicates_across_classes(paths: np.ndarray, labels: np.ndarray) -> list[str]:
    """Files with identical bytes filed under different classes (a labelling error)."""
    from automl.data.dataset import file_hash

    seen: dict[str, tuple[str, str]] = {}
    clashes = []
    for p, lab in zip(paths, labels):
        h = file_hash(p)
        if h in seen and seen[h][1] != lab:
            clashes.append(f"{p} ({lab}) = {seen[h][0]} ({seen[h][1]})")
        seen.setdefault(h, (p, lab))
    return clashes
