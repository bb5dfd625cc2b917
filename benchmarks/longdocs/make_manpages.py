"""Build manpages-few: a long-document text dataset whose label is a manual page's section.

Every English manual page that an installed Debian package ships under /usr/share/man/man{1,2,3,5,7,8}
is rendered to plain text with man-db, stripped of what names its section outright (the header and
footer lines, and the "(N)" after the page's own names), and kept if it has at least 200 words.
The splits follow the team's few-label layout: ``train.csv`` (text,label; --per-class per
section), ``test.csv`` (text,label; up to --test-per-class per section) and ``unlabelled.csv``
(text; up to --pool pages from the rest), all disjoint and drawn with --seed.

    python benchmarks/longdocs/make_manpages.py --out benchmarks/longdocs/manpages-few

The result is deterministic for a given set of installed packages: pages are read in sorted order
and every draw comes from one seeded generator. A README.md with the sources, package versions and
per-split statistics is written beside the CSVs.
"""

from __future__ import annotations

import argparse
import gzip
import logging
import os
import re
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

MAN = Path("/usr/share/man")
DPKG_INFO = Path("/var/lib/dpkg/info")
SECTIONS = {
    "1": "user-commands",
    "2": "system-calls",
    "3": "library-functions",
    "5": "file-formats",
    "7": "overviews",
    "8": "admin-commands",
}
# google-cloud-cli (a third-party apt repository, not Debian) ships ~16,600 near-identical
# generated `gcloud_*` pages in section 1: they would swamp the class and are trivially spotted.
EXCLUDE = ("google-cloud-cli",)
# Width as a reader would see it; no hyphenation and no justification, so that collapsing
# whitespace gives back whole words ("possi- bly" would otherwise be two tokens).
RENDER_ENV = {"MANWIDTH": "80", "MANROFFOPT": "-rHY=0 -dAD=l", "LC_ALL": "C.UTF-8", "MAN_KEEP_FORMATTING": ""}
RENDER_CMD = "MANWIDTH=80 MANROFFOPT='-rHY=0 -dAD=l' LC_ALL=C.UTF-8 man -l -P cat FILE | col -bx"
SECTION_MARK = r"\(\d[\w+]*\)"  # (2), (3pm), (1ssl), (3type), (3x) ...
ANSI = re.compile(r"\x1b\[[0-9;]*m")

log = logging.getLogger("make_manpages")


@dataclass
class Page:
    path: Path
    section: str
    package: str
    text: str = ""
    words: int = 0


def owned_pages(exclude: tuple[str, ...]) -> list[Page]:
    """Regular, non-alias page files of the kept sections, each with the package that owns it."""
    owner: dict[str, str] = {}
    for lst in sorted(DPKG_INFO.glob("*.list")):
        package = lst.stem.split(":")[0]  # libfoo:amd64.list -> libfoo
        for line in lst.read_text(errors="replace").splitlines():
            if line.startswith("/usr/share/man/man"):
                owner.setdefault(line, package)
    pages = []
    for section in SECTIONS:
        for path in sorted((MAN / f"man{section}").iterdir()):
            package = owner.get(str(path))
            # Symlinks and `.so` stubs are aliases of a page read elsewhere; unowned files were
            # not installed by a package, so their provenance (and licence) is unknown.
            if package is None or package in exclude or path.is_symlink() or not path.is_file():
                continue
            opener = gzip.open if path.suffix == ".gz" else open
            with opener(path, "rt", errors="replace") as fh:
                head = fh.read(400)
            if re.search(r"^\.so\s", head, re.M):
                continue
            pages.append(Page(path, section, package))
    return pages


def render(path: Path) -> str:
    env = {**os.environ, **RENDER_ENV}
    out = subprocess.run(
        ["man", "-l", "-P", "cat", str(path)], env=env, capture_output=True, check=False
    ).stdout
    plain = subprocess.run(["col", "-bx"], input=out, capture_output=True, check=True, env=env).stdout
    return ANSI.sub("", plain.decode("utf-8", errors="replace"))


def own_names(path: Path, lines: list[str]) -> set[str]:
    """The page's file name and the names its NAME section lists ("open, openat, creat - ...")."""
    names = {path.name.split(".")[0]}
    for i, line in enumerate(lines):
        if line.strip() == "NAME":
            body = []
            for nxt in lines[i + 1 :]:
                if nxt and not nxt[0].isspace():  # next section heading
                    break
                body.append(nxt.strip())
            head = re.split(r"\s[-\u2010\u2013\u2014]+\s", " ".join(body), maxsplit=1)[0]
            names.update(n.strip() for n in head.split(",") if n.strip())
            break
    return {n for n in names if n}


def clean(path: Path, raw: str) -> tuple[str, bool]:
    """Drop the header and footer lines and the section marks after the page's own names;
    collapse whitespace. Also say whether header and footer looked as expected."""
    lines = raw.splitlines()
    filled = [i for i, line in enumerate(lines) if line.strip()]
    if len(filled) < 3:
        return "", False
    first, last = filled[0], filled[-1]
    # Header "OPEN(2)  System Calls Manual  OPEN(2)" names the section twice and its centre
    # title names it again; the footer "Linux man-pages 6.03  2023-02-05  open(2)" once more.
    regular = bool(re.search(SECTION_MARK + r"\s*$", lines[first])) and bool(
        re.search(SECTION_MARK + r"\s*$", lines[last])
    )
    body = lines[first + 1 : last]
    names = own_names(path, body)
    text = re.sub(r"\s+", " ", "\n".join(body)).strip()
    if names:
        alt = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
        text = re.sub(rf"(?<![\w.-])({alt}){SECTION_MARK}", r"\1", text, flags=re.I)
    return text, regular


def build_pages(exclude: tuple[str, ...], min_words: int) -> tuple[list[Page], Counter]:
    notes: Counter = Counter()
    pages = owned_pages(exclude)
    notes["page files found"] = len(pages)
    kept, seen = [], set()
    for n, page in enumerate(pages, 1):
        page.text, regular = clean(page.path, render(page.path))
        page.words = len(page.text.split())
        notes["header/footer not in the usual form"] += not regular
        if n % 500 == 0:
            log.info("rendered %d/%d pages", n, len(pages))
        if page.words < min_words:
            notes[f"under {min_words} words"] += 1
        elif page.text in seen:  # the same page shipped twice (e.g. under two names)
            notes["duplicate text"] += 1
        else:
            seen.add(page.text)
            kept.append(page)
            notes[f"kept in section {page.section}"] += 1
    return kept, notes


def split(
    pages: list[Page], per_class: int, test_per_class: int, pool: int, min_pages: int, seed: int
) -> tuple[dict[str, list[Page]], list[str]]:
    """Per section: ``per_class`` to train, then up to ``test_per_class`` to test; the pool is a
    uniform draw from everything left. Sections with fewer than ``min_pages`` pages are dropped."""
    rng = np.random.default_rng(seed)
    by_section: dict[str, list[Page]] = {s: [] for s in SECTIONS}
    for page in pages:
        by_section[page.section].append(page)
    dropped = [s for s, ps in by_section.items() if len(ps) < min_pages]
    out: dict[str, list[Page]] = {"train": [], "test": [], "unlabelled": []}
    rest: list[Page] = []
    for section, ps in by_section.items():
        if section in dropped:
            continue
        order = [ps[i] for i in rng.permutation(len(ps))]
        out["train"] += order[:per_class]
        out["test"] += order[per_class : per_class + test_per_class]
        rest += order[per_class + test_per_class :]
    out["unlabelled"] = [rest[i] for i in rng.permutation(len(rest))[:pool]]
    # Shuffle so that no file is sorted by class.
    for part in ("train", "test"):
        out[part] = [out[part][i] for i in rng.permutation(len(out[part]))]
    return out, dropped


def dpkg_versions(packages: set[str]) -> dict[str, str]:
    query = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package} ${Version}\n", *sorted(packages)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return dict(line.split(" ", 1) for line in query.splitlines() if " " in line)


def stats(words: list[int]) -> str:
    w = np.asarray(words)
    return (
        f"{len(w)} | {int(np.median(w))} | {int(np.percentile(w, 90))} | {int(w.max())} | "
        f"{(w > 400).mean():.0%}"
    )


def readme(out: Path, parts: dict[str, list[Page]], notes: Counter, dropped: list[str], args) -> str:
    used = {p.package for ps in parts.values() for p in ps}
    versions = dpkg_versions(used | {"manpages", "manpages-dev", "man-db", "groff-base"})
    per_pkg = Counter(p.package for ps in parts.values() for p in ps)
    counts = {part: Counter(p.section for p in ps) for part, ps in parts.items()}
    size = sum((out / f"{part}.csv").stat().st_size for part in parts)
    lines = [
        "# manpages-few: long-document classification of Linux manual pages by section",
        "",
        "Built by `benchmarks/longdocs/make_manpages.py "
        f"--per-class {args.per_class} --test-per-class {args.test_per_class} --pool {args.pool} "
        f"--seed {args.seed}` from the manual pages installed on the build machine (Debian 12).",
        "Same layout as the team's few-label text sets (`sst2-few`): `train.csv` (text,label), "
        "`unlabelled.csv` (text), `test.csv` (text,label); disjoint; one page per row.",
        "",
        "## Task",
        "",
        "The label is the page's manual section: "
        + ", ".join(f"`{name}` = section {s}" for s, name in SECTIONS.items() if s not in dropped)
        + "."
        + (f" Dropped for having too few pages: {', '.join(dropped)}." if dropped else ""),
        "Pages are long (see below): an encoder that reads only the first 128-256 tokens sees "
        "the NAME, SYNOPSIS and the start of DESCRIPTION only.",
        "",
        "## Source and rendering",
        "",
        "Every regular page file under `/usr/share/man/man{1,2,3,5,7,8}/` (English only) that "
        "`dpkg` lists as installed by a package, except the packages "
        f"{', '.join(f'`{p}`' for p in args.exclude) or '(none)'} (third-party repository: "
        "~16,600 generated `gcloud_*` pages that would swamp section 1). Symlinks and `.so` stubs "
        "are aliases and are skipped. Each page is rendered with",
        "",
        f"    {RENDER_CMD}",
        "",
        "(no hyphenation, left-adjusted, so that words stay whole), then:",
        "",
        "- the first and last non-empty lines are removed: the header `OPEN(2)  System Calls "
        "Manual  OPEN(2)` and footer `Linux man-pages 6.03  2023-02-05  open(2)` name the "
        "section outright (the centre title too: *System Calls Manual*, *Library Functions "
        "Manual*, *File Formats Manual*, ...), as do the source/date footers of other packages;",
        "- a section mark `(N...)` right after one of the page's own names (its file name and the "
        "names on its NAME line) is removed, e.g. `openat(2)` -> `openat` in the open page;",
        "- whitespace is collapsed to single spaces; everything else (NAME description, SYNOPSIS, "
        "DESCRIPTION, ..., SEE ALSO) is kept as rendered;",
        f"- pages under {args.min_words} words are dropped, and a text identical to one already kept "
        "is dropped (same page shipped twice).",
        "",
        "Cross-references to *other* pages keep their section marks (`close(2)`, `fopen(3)`, mostly "
        "in SEE ALSO): they are part of the content, and they correlate with the page's own section.",
        "",
        "Counts: "
        + "; ".join(f"{k}: {v}" for k, v in notes.items() if not k.startswith("kept in"))
        + ". The unusual headers/footers are mdoc (BSD-style) pages, e.g. ssh, tmux, libtirpc, "
        "libcrypt: header `SSH(1)  BSD General Commands Manual  SSH(1)`, footer `BSD  <date>  BSD` "
        "without a section mark; their first and last lines are dropped all the same.",
        "",
        "## Splits",
        "",
        "| label (section) | pages kept | train | test | unlabelled (true, for reference) |",
        "|---|---|---|---|---|",
    ]
    for s, name in SECTIONS.items():
        if s not in dropped:
            lines.append(
                f"| {name} ({s}) | {notes[f'kept in section {s}']} | {counts['train'][s]} | "
                f"{counts['test'][s]} | {counts['unlabelled'][s]} |"
            )
    lines += [
        "",
        f"CSV size: {size / 1e6:.1f} MB in all.",
        "",
        "Words per document (whitespace-separated tokens):",
        "",
        "| split | docs | median | p90 | max | share > 400 words |",
        "|---|---|---|---|---|---|",
    ]
    for part, ps in parts.items():
        lines.append(f"| {part} | {stats([p.words for p in ps])} |")
    lines += [
        "",
        "## Licence",
        "",
        "There is no single licence. The pages come from the Debian packages below, each under its "
        "own free licence (see `/usr/share/doc/<package>/copyright`). The Linux man-pages project "
        "(`manpages`, `manpages-dev`, most of sections 2, 3 and 7) uses several free licences page "
        "by page: GPL-2.0+, GPL-2.0, GPL-1.0+, BSD-2/3/4-clause, Expat (MIT) and the "
        "'Linux-man-pages-copyleft' verbatim licence. Fine for internal benchmarking; check the "
        "per-package terms before redistributing the CSVs.",
        "",
        "## Packages (pages used in the splits; version from `dpkg-query`)",
        "",
        ", ".join(f"{p} {versions.get(p, '?')} ({n})" for p, n in sorted(per_pkg.items())),
        "",
        "Tools: " + ", ".join(f"{p} {versions.get(p, '?')}" for p in ("man-db", "groff-base")) + ".",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "manpages-few")
    parser.add_argument("--per-class", type=int, default=16, help="labelled training pages per section")
    parser.add_argument("--test-per-class", type=int, default=100)
    parser.add_argument("--pool", type=int, default=1000, help="unlabelled pages at most")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-words", type=int, default=200)
    parser.add_argument(
        "--min-pages", type=int, default=None, help="drop sections with fewer pages (default per-class + 50)"
    )
    parser.add_argument("--exclude", nargs="*", default=list(EXCLUDE), help="packages whose pages to skip")
    parser.add_argument(
        "--oracle",
        type=Path,
        default=None,
        help="also write the pool's true labels there (unlabelled_labels.csv: row,text,label), "
        "in the layout of shared/datasets/oracle; kept out of --out on purpose",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    pages, notes = build_pages(tuple(args.exclude), args.min_words)
    min_pages = args.min_pages if args.min_pages is not None else args.per_class + 50
    parts, dropped = split(pages, args.per_class, args.test_per_class, args.pool, min_pages, args.seed)

    args.out.mkdir(parents=True, exist_ok=True)
    for part, ps in parts.items():
        frame = pd.DataFrame({"text": [p.text for p in ps]})
        if part != "unlabelled":
            frame["label"] = [SECTIONS[p.section] for p in ps]
        frame.to_csv(args.out / f"{part}.csv", index=False)
    if args.oracle is not None:
        args.oracle.mkdir(parents=True, exist_ok=True)
        pool = parts["unlabelled"]
        pd.DataFrame(
            {
                "row": range(len(pool)),
                "text": [p.text for p in pool],
                "label": [SECTIONS[p.section] for p in pool],
            }
        ).to_csv(args.oracle / "unlabelled_labels.csv", index=False)
    (args.out / "README.md").write_text(readme(args.out, parts, notes, dropped, args))
    log.info("wrote %s: %s", args.out, ", ".join(f"{part} {len(ps)}" for part, ps in parts.items()))


if __name__ == "__main__":
    main()
