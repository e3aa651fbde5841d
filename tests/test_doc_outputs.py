"""The outputs the docs claim (issue 15 point 13): in README.md and docs/*.md, a line ``print(...)  # -> text``
claims that the print writes ``text``; a line ending in ``# ->`` claims the comment lines right after it (``# ...``)
as its output. Every code block holding such a claim is run here with ``print`` recorded per line, and each claim
is compared with what was printed (whitespace runs compared as one space). pytest-markdown-docs runs every block;
this checks what they say they print."""

import builtins
import io
import re
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLAIM = re.compile(r"#\s*->\s*(.*)$", re.MULTILINE)
FENCE = re.compile(r"^([ \t]*)```python\s*$(.*?)^[ \t]*```\s*$", re.MULTILINE | re.DOTALL)


def _blocks():
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for match in FENCE.finditer(path.read_text(encoding="utf-8")):
            code = textwrap.dedent(match.group(2))  # a block inside a list item is indented
            if CLAIM.search(code):
                line = path.read_text(encoding="utf-8")[:match.start()].count("\n") + 2
                yield pytest.param(code, id=f"{path.name}:{line}")


def _normal(text: str) -> str:
    return " ".join(text.split())


def claims_hold(code: str) -> list[str]:
    """Run ``code`` and return a message per claim that does not hold (empty: all hold)."""
    printed: dict[int, list[str]] = {}

    def recording_print(*args, **kwargs):
        import sys

        buffer = io.StringIO()
        builtins.print(*args, **{**kwargs, "file": buffer})
        printed.setdefault(sys._getframe(1).f_lineno, []).append(buffer.getvalue())

    exec(compile(code, "<doc block>", "exec"), {"print": recording_print, "__name__": "__doc_block__"})
    failures = []
    lines = code.splitlines()
    for number, text in enumerate(lines, start=1):
        claim = CLAIM.search(text)
        if claim and "print(" in text:
            expected = claim.group(1)
            if not expected.strip():  # the output is the comment lines that follow
                following = []
                for later in lines[number:]:
                    if not later.lstrip().startswith("#"):
                        break
                    following.append(later.lstrip()[1:])
                expected = " ".join(following)
            got = "".join(printed.get(number, []))
            if _normal(got) != _normal(expected):
                failures.append(f"line {number}: claims {expected.strip()!r}, printed {got.strip()!r}")
    return failures


def test_the_checker_catches_a_wrong_claim():
    assert claims_hold("print(1 + 1)  # -> 2\nprint('a  b')  # -> a b") == []
    assert claims_hold("print(1 + 1)  # -> 3") == ["line 1: claims '3', printed '2'"]
    assert claims_hold("print('a\\nb')  # ->\n# a\n# b\nx = 1") == []
    assert claims_hold("print('a\\nc')  # ->\n# a\n# b") == ["line 1: claims 'a  b', printed 'a\\nc'"]


@pytest.mark.parametrize("code", list(_blocks()))
def test_docs_print_what_they_claim(code, tmp_path, monkeypatch):
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    assert claims_hold(code) == []
