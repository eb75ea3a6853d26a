"""components/transform/tft_log_filter.py: a text transform run logs none of TFT's two
unactionable warnings (label table re-initialization, analyzer cache keys), and every other absl
warning still goes through."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from seqline.components.transform import tft_log_filter
from seqline.components.transform.config import TransformTextConfig as TransformConfig
from seqline.components.transform.text_features import NgramConfig
from tests.components.transform.transform_fixtures import (
    TINY_EVAL,
    TINY_LABELS,
    TINY_TRAIN,
    run_transform,
    write_examples,
)

absl_logging = pytest.importorskip("absl.logging")
pytest.importorskip("tensorflow_transform")

LABELS, TRAIN, EVAL = TINY_LABELS, TINY_TRAIN, TINY_EVAL
TABLE_WARNING = (
    "Tables initialized inside a tf.function  will be re-initialized on every invocation of the"
    " function. This  re-initialization can have significant impact on performance. Consider"
    " lifting  them out of the graph context using  `tf.init_scope`.: {}"
)
CACHE_KEY_WARNING = (
    "Analyzer (%s) node's cache key varies on repeated tracing. This warning is safe to ignore"
    " if you either specify `name` for all analyzers or if the order in which they are invoked"
    " is deterministic. If not, please file a bug with details."
)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def absl_messages() -> Iterator[list[str]]:
    """Messages that reach a handler on the "absl" logger (after its filters) in the test."""
    handler = _Collect()
    logger = logging.getLogger("absl")
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


@pytest.mark.slow
def test_text_transform_with_nb_weights_logs_no_tft_noise(tmp_path, absl_messages) -> None:
    # "nb" weights use all three named n-gram analyzers; the label table is always built.
    examples = write_examples(tmp_path / "examples", {"train": TRAIN, "eval": EVAL}, LABELS)
    config = TransformConfig(
        vocab_size=50,
        max_tokens=4,
        ngrams=NgramConfig(orders=2, vocab_size=100, weights="nb", max_ngrams=6),
    )
    run_transform(tmp_path, examples, config)
    noise = [
        m for m in absl_messages if "re-initialized on every invocation" in m or "cache key" in m
    ]
    assert noise == []


def test_other_absl_warnings_pass_the_filter(absl_messages) -> None:
    tft_log_filter.install()
    tft_log_filter.install()  # idempotent
    assert (
        sum(isinstance(f, tft_log_filter.TftNoiseFilter) for f in logging.getLogger("absl").filters)
        == 1
    )
    dropped = [
        TABLE_WARNING.format("key_value_init/LookupTableImportV2"),
        CACHE_KEY_WARNING % "ngram_df/temporary_analyzer_output/PlaceholderWithDefault:0",
        CACHE_KEY_WARNING % "ngram_docs/temporary_analyzer_output/PlaceholderWithDefault:0",
        CACHE_KEY_WARNING % "ngram_class_df/temporary_analyzer_output/PlaceholderWithDefault:0",
    ]
    kept = [
        TABLE_WARNING.format("other_table/LookupTableImportV2"),
        CACHE_KEY_WARNING % "vocabulary/temporary_analyzer_output/PlaceholderWithDefault:0",
        "Some other TFT warning",
    ]
    absl_logging.warning(dropped[0])
    for analyzer in ("ngram_df", "ngram_docs", "ngram_class_df"):
        absl_logging.warning(
            CACHE_KEY_WARNING, f"{analyzer}/temporary_analyzer_output/PlaceholderWithDefault:0"
        )
    absl_logging.warning(kept[0])
    absl_logging.warning(
        CACHE_KEY_WARNING, "vocabulary/temporary_analyzer_output/PlaceholderWithDefault:0"
    )
    absl_logging.warning(kept[2])
    absl_logging.error(dropped[0])  # the same text as an error is not the known warning
    assert absl_messages == [*kept, dropped[0]]


def test_debug_log_level_installs_no_filter(monkeypatch) -> None:
    logger = logging.getLogger("absl")
    monkeypatch.setattr(logger, "filters", [])
    monkeypatch.setenv("SEQLINE_LOG_LEVEL", "debug")
    tft_log_filter.install()
    assert logger.filters == []
