"""Test helper: a copy of examples/demo.py and its configs, whose main(argv) the end-to-end
tests run in their own process (the demo's code and output, without another TensorFlow
import, ~7 s, per run)."""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def copy_demo(tmp_path: Path) -> Path:
    """Copies examples/demo/ and examples/demo.py under `tmp_path`/examples; returns that
    folder. The demo's paths are relative to its file, so it writes under the copy."""
    examples = tmp_path / "examples"
    shutil.copytree(REPO / "examples" / "demo", examples / "demo")
    shutil.copy(REPO / "examples" / "demo.py", examples / "demo.py")
    return examples


def demo_main(examples: Path) -> Callable[..., int]:
    """The copied demo.py's main(argv), imported from `examples`."""
    spec = importlib.util.spec_from_file_location("demo_copy", examples / "demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main
