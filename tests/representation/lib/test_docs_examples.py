"""Issue 14: every ```python block of docs/representation*.md runs (each in a fresh namespace,
in a temporary working directory)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

DOCS = sorted((Path(__file__).resolve().parents[3] / "docs").glob("representation*.md"))
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _blocks() -> list[tuple[str, str]]:
    out = []
    for doc in DOCS:
        for i, code in enumerate(BLOCK.findall(doc.read_text(encoding="utf-8"))):
            out.append((f"{doc.name}#{i + 1}", code))
    return out


def test_the_docs_have_examples() -> None:
    names = {name.split("#")[0] for name, _ in _blocks()}
    assert names == {d.name for d in DOCS} and len(DOCS) >= 3


@pytest.mark.parametrize(("name", "code"), _blocks(), ids=[n for n, _ in _blocks()])
def test_docs_example_runs(name: str, code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    exec(compile(code, name, "exec"), {"__name__": "__docs__"})
