"""The docs' claims point at things that exist: every `tests/<file>.py::<test>` reference in the
README and docs/ names a test function of that file, every relative link (and its #anchor)
resolves, every file they name exists, and every result they tell a user to build is a target
of the workflow."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "config" / "README.md"]
TEST_REFERENCE = re.compile(r"tests/(\w+)\.py::(\w+)")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
ANCHORED_LINK = re.compile(r"\]\(([^)#\s]*\.md)#([^)\s]+)\)")
#: A repository file named in backticks: `benchmarks/x.py`, `config/paper.yaml --flag`, ...
NAMED_FILE = re.compile(r"`((?:benchmarks|config|docs|profiles|tests|workflow)/[^`\s:{}…]+)")
#: A concrete result a command in the docs builds (no wildcards): `... results/metrics/x/JJA/west/strict.json`
BUILT_RESULT = re.compile(r"`[^`]*?(?:snakemake|…)[^`]*?\s(results/[^`\s{}…]+)`")


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


def heading_anchors(markdown: str) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces to dashes."""
    headings = re.findall(r"^#+\s+(.*)$", markdown, flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: str(path.relative_to(REPO)))
def test_every_anchor_a_doc_links_to_is_a_heading_of_that_page(doc):
    broken = [
        f"{page}#{anchor}"
        for page, anchor in ANCHORED_LINK.findall(doc.read_text())
        if (doc.parent / page).exists() and anchor not in heading_anchors((doc.parent / page).read_text())
    ]
    assert broken == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: str(path.relative_to(REPO)))
def test_every_file_a_doc_names_exists(doc):
    assert [name for name in NAMED_FILE.findall(doc.read_text()) if not (REPO / name.rstrip("/.,")).exists()] == []


def test_every_result_the_docs_tell_a_user_to_build_is_a_target_of_the_demo(tmp_path):
    targets = sorted({target for doc in DOCS for target in BUILT_RESULT.findall(doc.read_text())})
    readme = set(BUILT_RESULT.findall((REPO / "README.md").read_text()))
    assert readme == {"results/metrics/ddpm/JJA/west/strict.json"}  # the README's example, a model of paper.yaml too
    shutil.copy(REPO / "config" / "config.yaml", tmp_path / "config.yaml")
    planned = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow" / "Snakefile"), "--directory", str(tmp_path)]
        + ["--configfile", str(tmp_path / "config.yaml"), "-n", *targets],
        capture_output=True,
        text=True,
    )
    assert planned.returncode == 0, planned.stdout[-2000:] + planned.stderr[-2000:]
