"""The docs' claims point at tests that exist: every `tests/<file>.py::<test>` reference in the
README and docs/ names a test function of that file, and every relative link resolves."""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "config" / "README.md"]
TEST_REFERENCE = re.compile(r"tests/(\w+)\.py::(\w+)")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: str(path.relative_to(REPO)))
def test_every_test_named_in_the_docs_exists(doc):
    named = TEST_REFERENCE.findall(doc.read_text())
    missing = [
        f"tests/{module}.py::{name}"
        for module, name in named
        if not re.search(rf"^def {name}\(", (REPO / "tests" / f"{module}.py").read_text(), re.MULTILINE)
    ]
    assert missing == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: str(path.relative_to(REPO)))
def test_every_relative_link_in_the_docs_resolves(doc):
    links = [link for link in LINK.findall(doc.read_text()) if "://" not in link and not link.startswith("mailto:")]
    assert [link for link in links if not (doc.parent / link).exists()] == []


def test_the_bad_input_page_names_a_test_for_every_row():
    rows = [
        line
        for line in (REPO / "docs" / "bad-input.md").read_text().splitlines()
        if line.startswith("| ") and not line.startswith("| bad input") and not line.startswith("| fault")
    ]
    assert rows and all(TEST_REFERENCE.search(row) for row in rows)
