"""The README's sample outputs are the real outputs: each ``$ digits ...`` block is run and compared.

A block in README.md (or docs/*.md) that starts with a ``$ digits ...`` line and runs on files in
``examples/`` is run with the real CLI and the packaged model, from the repository root; what it
prints (standard output and standard error, in order) must be the lines shown under the command,
and its exit status must be 0 unless the block shows a ``digits: ... failed`` line.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def examples() -> list[tuple[str, str, list[str]]]:
    """(page, command, expected lines) for every ``$ digits`` block that runs on examples/."""
    found = []
    for page in PAGES:
        for block in re.findall(r"^```[a-z]*\n(.*?)^```", page.read_text(encoding="utf-8"), flags=re.S | re.M):
            lines = block.splitlines()
            while lines:
                if not lines[0].startswith("$ digits ") or "examples/" not in lines[0]:
                    lines = lines[1:]
                    continue
                command, rest = lines[0][2:], lines[1:]
                end = next((i for i, line in enumerate(rest) if line.startswith("$ ") or not line.strip()), len(rest))
                found.append((page.name, command, rest[:end]))
                lines = rest[end:]
    return found


EXAMPLES = examples()


def test_the_readme_has_examples_to_check() -> None:
    readme = [command for page, command, _ in EXAMPLES if page == "README.md"]
    assert any(c.startswith("digits predict ") for c in readme) and any(c.startswith("digits read ") for c in readme)
    for _, command, expected in EXAMPLES:
        assert expected, f"{command}: no output shown"


@pytest.mark.parametrize(("page", "command", "expected"), EXAMPLES, ids=[f"{p}: {c}" for p, c, _ in EXAMPLES])
def test_example_output_is_real(page: str, command: str, expected: list[str]) -> None:
    args = shlex.split(command)[1:]
    proc = subprocess.run(
        [sys.executable, "-m", "digits", *args],
        cwd=REPO,
        capture_output=False,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
    )
    shown = [line.rstrip() for line in expected]
    assert proc.stdout.rstrip("\n").splitlines() == shown, f"{page}: {command}"
    failed = any(line.startswith("digits: ") and line.endswith("failed") for line in shown)
    assert (proc.returncode != 0) == failed, (command, proc.returncode)


def test_the_readme_python_example_runs_as_its_comments_say() -> None:
    """The README's Python block, run as it stands from the repository root with the packaged model."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", readme, flags=re.S | re.M)
    assert len(blocks) == 1
    proc = subprocess.run(
        [sys.executable, "-c", blocks[0]], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    expected = ["7", "2026", "examples/seven.jpg 7", "nosuch.png no such file", "nosuch.png: no such file"]
    assert proc.stdout.splitlines() == expected
    for line in expected[:2] + expected[3:]:
        assert f"# {line}" in blocks[0], f"the comments no longer show {line!r}"


def _anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_every_link_between_the_pages_resolves() -> None:
    """Relative links in README.md, docs/, examples/ and bench/ name files that exist, and headings that exist."""
    pages = [*PAGES, REPO / "examples" / "README.md", REPO / "bench" / "README.md"]
    pages.append(REPO / "bench" / "experiments" / "README.md")
    checked = 0
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+://", target):
                continue
            path, _, anchor = target.partition("#")
            where = (page.parent / path).resolve() if path else page
            assert where.exists(), f"{page.relative_to(REPO)}: {target} does not exist"
            if anchor:
                headings = re.findall(r"^#+ (.+)$", where.read_text(encoding="utf-8"), flags=re.M)
                assert anchor in {_anchor(h) for h in headings}, f"{page.relative_to(REPO)}: no heading for {target}"
            checked += 1
    assert checked > 20
