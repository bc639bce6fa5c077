"""Every internal link of the README, the changelog and docs/ resolves, and the site builds.

A relative link must name an existing file; a ``#anchor`` must name a heading of its
target, under the slug rules of both GitHub (where the README and docs/ are read as
files) and mkdocs (where docs/ is read as a site), so the link works in both. External
``http(s)``/``mailto`` links are not checked.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import time
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(
    [ROOT / "README.md", ROOT / "CHANGELOG.md", *(ROOT / "docs").rglob("*.md")],
)

_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$")
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
# [text](target) and ![alt](target), with an optional "title"; text may hold one level of [].
_INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^\s<>()]+)>?(?:\s+\"[^\"]*\")?\s*\)"
)
_REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$")
_EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def _prose_lines(text: str) -> Iterator[tuple[int, str]]:
    """The lines outside fenced code blocks and HTML comments, numbered from 1."""
    text = _COMMENT.sub(lambda match: "\n" * match.group().count("\n"), text)
    fence: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        opened = _FENCE.match(line)
        if fence is None and opened:
            fence = opened.group(1)
        elif fence is not None and line.lstrip().startswith(fence):
            fence = None
        elif fence is None:
            yield number, line


def _heading_text(raw: str) -> str:
    """A heading as rendered text: code spans, emphasis and link syntax removed."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", raw)
    text = text.replace("`", "")
    return re.sub(r"(\*\*|__|\*)", "", text)


def github_slug(text: str) -> str:
    """GitHub's anchor: lowercase, punctuation dropped except - and _, each space a -."""
    text = _heading_text(text).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def mkdocs_slug(text: str) -> str:
    """Python-Markdown's toc slug (mkdocs): ASCII only, runs of spaces and - become one -."""
    text = unicodedata.normalize("NFKD", _heading_text(text))
    text = text.encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _unique(slugs: list[str], separator: str) -> set[str]:
    """Slugs as the renderer makes them unique: a repeat gets -1 (GitHub) or _1 (mkdocs)."""
    seen: dict[str, int] = {}
    out = set()
    for slug in slugs:
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        out.add(slug if count == 0 else f"{slug}{separator}{count}")
    return out


def anchors(path: Path) -> set[str]:
    """The anchors a page's headings give on GitHub *and* in the mkdocs site."""
    headings = [
        match.group(2)
        for _, line in _prose_lines(path.read_text(encoding="utf-8"))
        if (match := _HEADING.match(line))
    ]
    by_rule: list[tuple[Callable[[str], str], str]] = [(github_slug, "-"), (mkdocs_slug, "_")]
    sets = [_unique([slug(h) for h in headings], sep) for slug, sep in by_rule]
    return sets[0] & sets[1]


def links(path: Path) -> Iterator[tuple[int, str]]:
    """Every link target of a page outside code, with its line number."""
    for number, line in _prose_lines(path.read_text(encoding="utf-8")):
        if match := _REFERENCE.match(line):
            yield number, match.group(1)
            continue
        for match in _INLINE_LINK.finditer(_CODE_SPAN.sub("", line)):
            yield number, match.group(1)


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """Each internal link of ``path`` that does not resolve, as ``file:line: target (why)``.

    ``file`` is relative to ``root``.
    """
    problems = []
    for number, target in links(path):
        if _EXTERNAL.match(target):
            continue
        where = f"{path.relative_to(root).as_posix()}:{number}: {target}"
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.is_file():
            problems.append(f"{where} (no such file)")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            problems.append(f"{where} (no heading with this anchor)")
    return problems


def test_pages_are_found() -> None:
    """Expects the README, the changelog and the docs pages among the checked pages."""
    names = {page.relative_to(ROOT).as_posix() for page in PAGES}
    assert {"README.md", "CHANGELOG.md", "docs/index.md", "docs/commands.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_internal_links_resolve(page: Path) -> None:
    """Gives one page; expects every relative link to an existing file and heading."""
    assert broken_links(page) == []


def test_checker_finds_broken_links(tmp_path: Path) -> None:
    """Gives a page with a good link, a missing file, a missing anchor and links in code.

    Expects only the two broken ones reported; external links and code are skipped.
    """
    (tmp_path / "other.md").write_text("# Other\n\n## `plan`: the worklist\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n"
        "[ok](other.md#plan-the-worklist) [self](#page) [web](https://example.com/x.md)\n"
        "[gone](missing.md) [bad anchor](other.md#nope)\n"
        "`[in code](missing.md)`\n\n"
        "```\n[in a fence](missing.md)\n```\n",
        encoding="utf-8",
    )
    assert broken_links(page, root=tmp_path) == [
        "page.md:4: missing.md (no such file)",
        "page.md:4: other.md#nope (no heading with this anchor)",
    ]


@pytest.mark.parametrize(
    ("heading", "github", "mkdocs"),
    [
        ("Large books: `--stream`", "large-books---stream", "large-books-stream"),
        (
            "Small files: does `train`'s CV hold? (issue 13)",
            "small-files-does-trains-cv-hold-issue-13",
            None,
        ),
        ("Holidays: `[notify]`", "holidays-notify", None),
    ],
)
def test_slug_rules(heading: str, github: str, mkdocs: str | None) -> None:
    """Gives headings with code, punctuation and dashes; expects each renderer's anchor."""
    assert github_slug(heading) == github
    assert mkdocs_slug(heading) == (mkdocs or github)


def test_mkdocs_build_is_strict_clean(tmp_path: Path) -> None:
    """Builds the site with ``mkdocs build --strict``; expects success within seconds.

    Strict mode fails on any warning: a broken link or anchor, a page missing from the nav.
    """
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed (the [docs] extra)")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    seconds = time.perf_counter() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "index.html").is_file()
    assert seconds < 60, f"mkdocs build took {seconds:.1f} s"
