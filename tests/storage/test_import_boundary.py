"""storage/ sits below pipeline/ and serving/: it imports no other seqline package."""

from __future__ import annotations

import ast
from pathlib import Path

STORAGE = Path(__file__).resolve().parents[2] / "storage"


def test_storage_imports_no_other_seqline_package():
    offenders = []
    for path in sorted(STORAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [
                f"{path.name}:{node.lineno} imports {name}"
                for name in names
                if name.startswith("seqline.") and not name.startswith("seqline.storage")
            ]
    assert list(STORAGE.rglob("filesystem.py")), "storage/filesystem.py not found"
    assert not offenders, "storage/ must stay below the other packages:\n" + "\n".join(offenders)
