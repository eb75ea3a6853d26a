"""examples/imdb/predict_sentiment.py against the in-process server serving the tiny text
model (positive probability = sigmoid(#"good" - #"bad"), see conftest)."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest

from seqline.serving.client.rest_client import RestClient

_SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "imdb" / "predict_sentiment.py"


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("predict_sentiment", _SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look the module up in sys.modules while the script defines Sentiment.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script() -> ModuleType:
    return _load_script()


@pytest.fixture
def rest_url(start_server, model_base_path, text_model: str) -> str:
    server = start_server(model_name="text", model_base_path=model_base_path(text_model))
    return f"http://127.0.0.1:{server.rest_port}"


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def test_raw_strings_give_label_and_its_probability(script, rest_url: str) -> None:
    texts = ["good good bad film", "bad bad movie", "a good one"]
    results = script.predict_sentiment(RestClient(rest_url, "text"), texts)
    assert [r.text for r in results] == texts
    assert [r.label for r in results] == ["positive", "negative", "positive"]
    # The predicted class's probability: sigmoid(+1), 1 - sigmoid(-2), sigmoid(+1).
    expected = [_sigmoid(1.0), 1.0 - _sigmoid(-2.0), _sigmoid(1.0)]
    assert [r.probability for r in results] == pytest.approx(expected, abs=1e-5)


def test_cli_prints_one_line_per_text(script, rest_url: str, capsys) -> None:
    assert script.main(["--url", rest_url, "--model", "text", "bad", "good good"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].split()[:2] == ["negative", f"{1.0 - _sigmoid(-1.0):.3f}"]
    assert lines[1].split()[:2] == ["positive", f"{_sigmoid(2.0):.3f}"]


def test_no_text_is_a_clear_error(script, rest_url: str) -> None:
    with pytest.raises(ValueError, match="at least one string"):
        script.predict_sentiment(RestClient(rest_url, "text"), [])
