"""Replaying ``assets.extra/tf_serving_warmup_requests`` before a version takes traffic.

The file is a TFRecord of tensorflow.serving.PredictionLog (at most 1000 records, as in TF
Serving). Each record's request is run once against the freshly loaded version, so the first
real request does not pay for graph initialisation. Predict, Classify, Regress and
MultiInference logs are replayed (session_run logs are skipped with a warning); a record that
fails (or an unreadable file, or too many records) fails the load, which TF Serving does too:
a model whose own warmup requests fail is not fit to serve.
"""

from __future__ import annotations

import logging
import os

from tensorflow_serving.apis import prediction_log_pb2

from seqline.serving.errors import ServingError
from seqline.serving.server.inference import (
    classify_on,
    multi_inference_on,
    predict_on,
    regress_on,
)
from seqline.serving.server.servable import Servable

log = logging.getLogger(__name__)

WARMUP_DIR = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"
MAX_WARMUP_RECORDS = 1000


class WarmupError(RuntimeError):
    """The warmup file of a version is unreadable, too long, or one of its requests failed."""


def warmup_path(version_dir: str) -> str:
    return os.path.join(version_dir, WARMUP_DIR, WARMUP_FILE)


def read_warmup_records(path: str) -> list[prediction_log_pb2.PredictionLog]:
    """The PredictionLogs in ``path`` ([] if the file does not exist).

    Raises WarmupError for more than MAX_WARMUP_RECORDS records or a corrupt file/record.
    """
    import tensorflow as tf

    if not tf.io.gfile.exists(path):
        return []
    records: list[prediction_log_pb2.PredictionLog] = []
    try:
        for raw in tf.data.TFRecordDataset(path).take(MAX_WARMUP_RECORDS + 1):
            if len(records) == MAX_WARMUP_RECORDS:
                raise WarmupError(
                    f"{path}: more than {MAX_WARMUP_RECORDS} warmup records; TF Serving reads "
                    f"at most {MAX_WARMUP_RECORDS}, write fewer"
                )
            log_record = prediction_log_pb2.PredictionLog()
            log_record.ParseFromString(raw.numpy())
            records.append(log_record)
    except tf.errors.OpError as e:
        raise WarmupError(f"{path}: not a readable TFRecord file: {e.message}") from e
    except Exception as e:
        if isinstance(e, WarmupError):
            raise
        raise WarmupError(f"{path}: record {len(records)} is not a PredictionLog: {e}") from e
    return records


def replay_warmup(servable: Servable, records: list[prediction_log_pb2.PredictionLog]) -> int:
    """Runs every record's request against ``servable``; returns how many were replayed.

    Raises WarmupError naming the record on the first failure.
    """
    replayed = 0
    for i, record in enumerate(records):
        kind = record.WhichOneof("log_type")
        try:
            if kind == "predict_log":
                predict_on(servable, record.predict_log.request)
            elif kind == "classify_log":
                classify_on(servable, record.classify_log.request)
            elif kind == "regress_log":
                regress_on(servable, record.regress_log.request)
            elif kind == "multi_inference_log":
                multi_inference_on(servable, record.multi_inference_log.request)
            else:
                # session_run logs target an API this server does not offer.
                log.warning(
                    "%s version %d: skipping warmup record %d of unsupported kind %s",
                    servable.name,
                    servable.version,
                    i,
                    kind,
                )
                continue
        except ServingError as e:
            raise WarmupError(
                f"warmup record {i} ({kind}) failed on {servable.name} version "
                f"{servable.version}: {e}"
            ) from e
        replayed += 1
    return replayed
