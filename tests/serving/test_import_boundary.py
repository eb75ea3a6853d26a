"""serving/ runs on hosts without the pipeline code: it may import seqline.serving and
seqline.storage, never seqline.pipeline, seqline.components or seqline.orchestration."""

from __future__ import annotations

import ast
from pathlib import Path

SERVING = Path(__file__).resolve().parents[2] / "serving"
FORBIDDEN = ("seqline.pipeline", "seqline.components", "seqline.orchestration")


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def test_serving_imports_nothing_from_the_pipeline_packages():
    offenders = [
        f"{path.relative_to(SERVING.parent)}:{line} imports {module}"
        for path in sorted(SERVING.rglob("*.py"))
        for line, module in _imported_modules(path)
        if module.startswith(FORBIDDEN)
    ]
    assert not offenders, "serving/ must not import pipeline code:\n" + "\n".join(offenders)


def test_the_scan_sees_serving_modules():
    # Guards the test above against passing on an empty or mistyped folder.
    assert len(list(SERVING.rglob("*.py"))) > 10


def test_client_and_deploy_import_no_server_module():
    # A client host (or a push worker) installs the client and deploy code without the server.
    offenders = [
        f"{path.relative_to(SERVING.parent)}:{line} imports {module}"
        for folder in ("client", "deploy")
        for path in sorted((SERVING / folder).rglob("*.py"))
        for line, module in _imported_modules(path)
        if module == "seqline.serving.server" or module.startswith("seqline.serving.server.")
    ]
    assert not offenders, "client/ and deploy/ must not import the server:\n" + "\n".join(offenders)
