"""The docs the repository holds stay true to it: every module is listed, every citation resolves.

- docs/architecture.md's package layout names every module file under src/devcurriculum/, and every
  module it names exists (a split or renamed module must be listed under its new name);
- no file cites the design notes or the algorithm notes that live outside the repository (what a
  reader of the code needs from them is in docs/: ``docs/algorithms.md``, ``docs/architecture.md``,
  ``docs/performance.md``, ...);
- every docs page a file cites exists, and so does the lettered section (``docs/algorithms.md §B``)
  and the heading in quotes (``docs/evaluation.md "Embeddings"``) the citation names; the links of
  README.md and docs/*.md point at files that exist.

The layout is a code block under "## Package layout": one entry per package or top-level module,
indented two spaces per level (``  utils/``, ``    labelled/`` inside ``evalsets/``), its modules named
in the entry's text as ``name.py``; continuation lines are indented to the description column.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "devcurriculum"
DOCS = REPO / "docs"
ARCHITECTURE = DOCS / "architecture.md"
THIS_FILE = Path(__file__).resolve()

#: where the code and its comments and docstrings live
CODE_DIRS = ("src", "scripts", "rules", "tests", "benchmarks")
#: every other place that cites the docs
OTHER_CITERS = ("docs", "schemas", "profiles", "configs", "report", ".test", "Snakefile", "Makefile",
                "README.md", "config.yaml")
TEXT_SUFFIXES = {".py", ".smk", ".sh", ".yaml", ".yml", ".md", ".rst", ".toml", ".cfg", ".txt"}
TEXT_NAMES = {"Snakefile", "Makefile"}

#: the notes outside the repository, however they are cited ("DESIGN §8", "DESIGN.md", "ALGORITHMS.md B")
OUTSIDE_DOCUMENT = re.compile(r"\b(?:DESIGN|ALGORITHMS)\b")

#: ``docs/page.md``, optionally `` §X`` and/or a heading in double quotes
CITATION = re.compile(
    r"docs/(?P<page>[\w-]+\.md)`?"
    r"(?:,? ?§(?P<section>[A-Z])\b)?"
    r"(?:,? \(?\"(?P<heading>[^\"\n]{1,80})\")?"
)
#: a Markdown link target that is a path in the repository
LINK = re.compile(r"\]\((?P<target>[^)\s#]+)(?:#[^)]*)?\)")

#: layout entries are indented 2 spaces per level; continuation lines sit at the description column
ENTRY = re.compile(r"^(?P<indent> +)(?P<name>[A-Za-z_]\w*(?:/|\.py))(?:\s+(?P<text>.*))?$")
ENTRY_MAX_INDENT = 6
#: a module named in an entry's text: ``name.py`` not part of a longer path or name
NAMED_MODULE = re.compile(r"(?<![\w./-])(?P<name>\w+)\.py\b")


def _text_files(roots: tuple[str, ...]) -> list[Path]:
    files: list[Path] = []
    for root in roots:
        path = REPO / root
        if path.is_file():
            files.append(path)
            continue
        for f in sorted(path.rglob("*")):
            if "__pycache__" in f.parts or not f.is_file() or f.resolve() == THIS_FILE:
                continue
            if f.suffix in TEXT_SUFFIXES or f.name in TEXT_NAMES:
                files.append(f)
    return files


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8", errors="replace").splitlines()


def layout_entries() -> dict[str, str]:
    """``{"utils/": text, "evalsets/labelled/": text, "voe_onset.py": text, ...}`` from the layout block."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    block = re.search(r"^## Package layout[^\n]*\n+```\n(?P<body>.*?)^```", text, re.S | re.M)
    assert block, "docs/architecture.md has no '## Package layout' section with a code block"
    lines = block["body"].splitlines()
    assert lines and lines[0].strip() == "src/devcurriculum/", (
        f"docs/architecture.md: the package layout must start with 'src/devcurriculum/', got {lines[:1]}"
    )
    entries: dict[str, str] = {}
    stack: list[str] = []
    current: str | None = None
    for line in lines[1:]:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        entry = ENTRY.match(line)
        if entry and indent <= ENTRY_MAX_INDENT:
            depth = indent // 2 - 1
            stack = [*stack[:depth], entry["name"]]
            current = "".join(stack)
            entries[current] = entry["text"] or ""
        else:
            assert current is not None, f"docs/architecture.md package layout: {line!r} belongs to no entry"
            entries[current] += " " + line.strip()
    return entries


def package_modules() -> list[Path]:
    """Every module file of the package, relative to it, ``__init__.py`` left out (its folder is the entry)."""
    return sorted(
        p.relative_to(PACKAGE)
        for p in PACKAGE.rglob("*.py")
        if "__pycache__" not in p.parts and p.name != "__init__.py"
    )


def named_modules(text: str) -> set[str]:
    return {m["name"] + ".py" for m in NAMED_MODULE.finditer(text)}


def test_the_layout_parses_into_the_packages() -> None:
    entries = layout_entries()
    assert {"utils/", "evalsets/", "evalsets/labelled/", "voe_onset.py", "train/"} <= set(entries)
    assert "io.py" in named_modules(entries["utils/"])
    assert "build.py" in named_modules(entries["evalsets/labelled/"])
    assert "build.py" not in named_modules(entries["evalsets/"])


def test_every_module_is_named_in_the_package_layout() -> None:
    entries = layout_entries()
    missing = []
    for module in package_modules():
        if len(module.parts) == 1:
            if module.name not in entries:
                missing.append(f"src/devcurriculum/{module}: add a top-level entry `{module.name}`")
            continue
        folder = "".join(f"{part}/" for part in module.parts[:-1])
        if folder not in entries:
            missing.append(f"src/devcurriculum/{module}: add an entry `{folder}` naming `{module.name}`")
        elif module.name not in named_modules(entries[folder]):
            missing.append(f"src/devcurriculum/{module}: name `{module.name}` in the `{folder}` entry")
    assert not missing, "docs/architecture.md's package layout does not list:\n" + "\n".join(missing)


def test_every_module_the_layout_names_exists() -> None:
    stale = []
    for key, text in layout_entries().items():
        if key.endswith(".py"):
            if not (PACKAGE / key).is_file():
                stale.append(f"entry `{key}`: src/devcurriculum/{key} does not exist")
            continue
        if not (PACKAGE / key).is_dir():
            stale.append(f"entry `{key}`: src/devcurriculum/{key} is not a package folder")
            continue
        for name in sorted(named_modules(text)):
            if not (PACKAGE / key / name).is_file():
                stale.append(f"entry `{key}` names `{name}`, but src/devcurriculum/{key}{name} does not exist")
    assert not stale, "docs/architecture.md's package layout names modules that are gone:\n" + "\n".join(stale)


def test_nothing_cites_the_notes_outside_the_repository() -> None:
    hits = [
        f"{f.relative_to(REPO)}:{i}: {line.strip()}"
        for f in _text_files(CODE_DIRS + OTHER_CITERS)
        for i, line in enumerate(_lines(f), 1)
        if OUTSIDE_DOCUMENT.search(line)
    ]
    assert not hits, (
        "these lines cite DESIGN / ALGORITHMS notes that are not in the repository; cite the page of "
        "docs/ that holds what they need (docs/algorithms.md, docs/architecture.md, ...):\n" + "\n".join(hits)
    )


def _headings(page: Path) -> list[tuple[int, str]]:
    out = []
    in_code = False
    for line in _lines(page):
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and (m := re.match(r"^(#+) +(.*)$", line)):
            out.append((len(m[1]), m[2].strip()))
    return out


def _section(headings: list[tuple[int, str]], letter: str) -> list[tuple[int, str]] | None:
    """The headings of lettered section ``## X. ...`` (itself first), or None when there is none."""
    for i, (level, text) in enumerate(headings):
        if level == 2 and text.startswith(f"{letter}. "):
            end = next((j for j in range(i + 1, len(headings)) if headings[j][0] <= 2), len(headings))
            return headings[i:end]
    return None


def citation_problems(text: str) -> list[str]:
    """What is wrong with each ``docs/...`` citation in ``text`` (empty when every one resolves)."""
    problems = []
    for m in CITATION.finditer(text):
        page = DOCS / m["page"]
        if not page.is_file():
            problems.append(f"cites docs/{m['page']}, which does not exist")
            continue
        headings = _headings(page)
        if m["section"]:
            section = _section(headings, m["section"])
            if section is None:
                problems.append(f"cites docs/{m['page']} §{m['section']}, which has no section '## {m['section']}. ...'")
                continue
            headings = section
        if m["heading"] and not any(h.startswith(m["heading"]) for _, h in headings):
            where = f" §{m['section']}" if m["section"] else ""
            problems.append(f"cites docs/{m['page']}{where} \"{m['heading']}\", which is not a heading there")
    return problems


def test_citation_checker_catches_what_it_should() -> None:
    assert citation_problems('see docs/algorithms.md §B, "Weights" and `docs/evaluation.md` "Embeddings"') == []
    assert citation_problems("docs/algorithms.md §E") == [
        "cites docs/algorithms.md §E, which has no section '## E. ...'"
    ]
    assert citation_problems('docs/algorithms.md §C, "Weights"') == [
        'cites docs/algorithms.md §C "Weights", which is not a heading there'
    ]
    assert citation_problems("docs/nowhere.md") == ["cites docs/nowhere.md, which does not exist"]
    assert citation_problems('PAGES = ["docs/algorithms.md", "x"]') == []  # a list of names, not a heading


@pytest.mark.parametrize("roots", [CODE_DIRS, OTHER_CITERS], ids=["code", "docs-and-config"])
def test_every_docs_citation_resolves(roots: tuple[str, ...]) -> None:
    problems = [
        f"{f.relative_to(REPO)}:{i}: {problem}"
        for f in _text_files(roots)
        for i, line in enumerate(_lines(f), 1)
        for problem in citation_problems(line)
    ]
    assert not problems, "\n".join(problems)


def test_readme_and_docs_links_point_at_files() -> None:
    broken = []
    for doc in [REPO / "README.md", *sorted(DOCS.glob("*.md"))]:
        for i, line in enumerate(_lines(doc), 1):
            for m in LINK.finditer(line):
                target = m["target"]
                if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
                    continue
                if not (doc.parent / target).exists():
                    broken.append(f"{doc.relative_to(REPO)}:{i}: link to {target}, which does not exist")
    assert not broken, "\n".join(broken)
