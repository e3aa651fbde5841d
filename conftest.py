"""The docs' code blocks (README.md, docs/*.md) run in a scratch directory, so files they write (an exported
kernel, a dumped spec, a plot) never land in the checkout; examples/ is linked there for the paths they read."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def _docs_run_in_a_scratch_directory(request, tmp_path, monkeypatch):
    if Path(str(request.node.path)).suffix == ".md":
        (tmp_path / "examples").symlink_to(ROOT / "examples")
        monkeypatch.chdir(tmp_path)
