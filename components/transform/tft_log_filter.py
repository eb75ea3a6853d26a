"""Drops two TensorFlow Transform warnings that every text transform run printed and that a user
can neither act on nor tell from a fault; every other log record goes through unchanged.

TFT traces the preprocessing_fn once per analysis phase and once more to write the SavedModel,
and logs on the "absl" logger (checked on tensorflow-transform 1.21):

- "Tables initialized inside a tf.function will be re-initialized on every invocation of the
  function ... : key_value_init/LookupTableImportV2" (graph_tools.py), once per trace. The only
  table seqline initializes inside the function is preprocessing.label_to_id's StaticHashTable
  of the label names (TFT lifts its own vocabulary tables into tf.init_scope): a table of a few
  entries, rebuilt once per transformed batch, and pruned from the serving graph, which feeds no
  label. Only this init op's warning is dropped; another table's warning still shows.
- "Analyzer (ngram_df/...) node's cache key varies on repeated tracing. This warning is safe to
  ignore if you either specify `name` for all analyzers or if the order in which they are
  invoked is deterministic." (impl_helper.py), per trace after the first. ngram_df, ngram_docs
  and ngram_class_df (preprocessing.py) are named and run in a fixed order (straight-line code);
  the key varies because they consume the n-gram vocabulary, an earlier analyzer's output, which
  is a placeholder in the first trace and a constant in later ones. Naming the vocabulary
  analyzers too does not remove it (tried). Only these three analyzers' warnings are dropped.

`install()` adds the filter to the "absl" logger once per process; preprocessing.py calls it at
import, so it is also active in a Beam worker process that unpickles the preprocessing_fn.
SEQLINE_LOG_LEVEL=debug (serving/quiet_logs.py) keeps every record.
"""

from __future__ import annotations

import logging

from seqline.serving.quiet_logs import debug_requested

TABLE_WARNING_START = "Tables initialized inside a tf.function"
LABEL_TABLE_INIT_OP = "key_value_init/LookupTableImportV2"
CACHE_KEY_WARNING_START = "Analyzer (%s) node's cache key varies on repeated tracing."
# Named in preprocessing.py; TFT reports each as "<name>/temporary_analyzer_output/...".
DETERMINISTIC_ANALYZERS = ("ngram_df", "ngram_docs", "ngram_class_df")


class TftNoiseFilter(logging.Filter):
    """False (drop) for exactly the two TFT warnings in the module docstring."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.WARNING or not isinstance(record.msg, str):
            return True
        if record.msg.startswith(TABLE_WARNING_START):
            return not record.getMessage().endswith(": " + LABEL_TABLE_INIT_OP)
        if record.msg.startswith(CACHE_KEY_WARNING_START) and isinstance(record.args, tuple):
            analyzer = str(record.args[0]) if record.args else ""
            return analyzer.split("/", 1)[0] not in DETERMINISTIC_ANALYZERS
        return True


def install() -> None:
    """Adds one TftNoiseFilter to the "absl" logger (idempotent); nothing with
    SEQLINE_LOG_LEVEL=debug."""
    logger = logging.getLogger("absl")
    if debug_requested() or any(isinstance(f, TftNoiseFilter) for f in logger.filters):
        return
    logger.addFilter(TftNoiseFilter())
