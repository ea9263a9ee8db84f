"""Keep the guides honest: every Python and TOML block in docs/*.md is quoted from a file here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).parent
PAGES = sorted(DOCS.glob("*.md"))
SOURCES = {path.name: path.read_text() for path in sorted(DOCS.glob("*.py"))}
BLOCK = re.compile(r"^```(python|toml)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def blocks(page: Path) -> list[str]:
    return [match.group(2) for match in BLOCK.finditer(page.read_text())]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_code_block_is_copied_from_a_docs_file(page: Path) -> None:
    missing = [block for block in blocks(page) if not any(block in source for source in SOURCES.values())]
    assert missing == []


def test_there_are_pages_to_check() -> None:
    assert {page.name for page in PAGES} >= {
        "getting-started.md",
        "phoenix-mapping.md",
        "virtual-time.md",
        "reference.md",
    }


LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = [line.lstrip("#").strip() for line in page.read_text().splitlines() if line.startswith("#")]
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_relative_link_points_to_a_file_and_heading_that_exist(page: Path) -> None:
    broken = []
    for target in LINK.findall(page.read_text()):
        if target.startswith(("http://", "https://")):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path) if path else page
        if not linked.exists() or (anchor and anchor not in anchors(linked)):
            broken.append(target)
    assert broken == []
