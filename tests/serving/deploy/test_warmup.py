"""Writing and validating assets.extra/tf_serving_warmup_requests for a SavedModel."""

from __future__ import annotations

import os
import shutil
from typing import Any

import numpy as np
import pytest

from seqline.serving.client.client import make_example
from seqline.serving.deploy.warmup import (
    MAX_WARMUP_RECORDS,
    InvalidWarmupRequests,
    build_predict_log,
    read_warmup_requests,
    warmup_path,
    write_warmup_requests,
)
from seqline.serving.tensor_codec import to_ndarray


@pytest.fixture
def text_copy(text_model: str, tmp_path: Any) -> str:
    target = str(tmp_path / "text" / "1")
    shutil.copytree(text_model, target)
    return target


@pytest.fixture
def half_plus_two_copy(half_plus_two_model: str, tmp_path: Any) -> str:
    target = str(tmp_path / "hp2" / "1")
    shutil.copytree(half_plus_two_model, target)
    return target


def test_writes_requests_for_several_signatures_and_reads_them_back(text_copy: str) -> None:
    serialized = make_example({"text": "good film"}).SerializeToString()
    path = write_warmup_requests(
        text_copy,
        [
            {"text": ["good film"]},
            {"text": ["a", "b", "c"]},
            ("serving_default", {"examples": np.array([serialized], dtype=object)}),
        ],
        signature_name="predict_text",
        model_name="text",
    )
    assert path == os.path.join(text_copy, "assets.extra", "tf_serving_warmup_requests")
    assert os.listdir(os.path.dirname(path)) == ["tf_serving_warmup_requests"]  # no temp left
    logs = read_warmup_requests(text_copy)  # a directory: also checked against its signatures
    requests = [log.predict_log.request for log in logs]
    assert [r.model_spec.signature_name for r in requests] == [
        "predict_text",
        "predict_text",
        "serving_default",
    ]
    assert all(r.model_spec.name == "text" for r in requests)
    assert to_ndarray(requests[1].inputs["text"]).tolist() == [b"a", b"b", b"c"]
    assert to_ndarray(requests[2].inputs["examples"]).tolist() == [serialized]


def test_the_server_side_reader_accepts_the_file(text_copy: str) -> None:
    from seqline.serving.server.warmup_replay import read_warmup_records

    path = write_warmup_requests(text_copy, [{"text": ["x"]}], signature_name="predict_text")
    assert len(read_warmup_records(path)) == 1


def test_lists_take_the_declared_dtype(half_plus_two_copy: str) -> None:
    write_warmup_requests(half_plus_two_copy, [{"x": [1, 2]}])  # ints for a float32 input
    (log,) = read_warmup_requests(half_plus_two_copy)
    x = to_ndarray(log.predict_log.request.inputs["x"])
    assert x.dtype == np.float32 and x.tolist() == [1.0, 2.0]


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([("nope", {"x": [1.0]})], "signature 'nope' not in the SavedModel"),
        ([{"y": [1.0]}], "expected inputs ['x'], got ['y']"),
        ([{"x": np.array([1], np.int64)}], "expected DT_FLOAT, got DT_INT64"),
        ([{"x": np.ones((2, 2), np.float32)}], "expected shape [-1] (-1 = any), got [2, 2]"),
        ([], "expected 1 to 1000 warmup requests"),
        ([{}], "at least one named input"),
    ],
)
def test_rejects_requests_the_model_cannot_serve(
    half_plus_two_copy: str, items: list[Any], message: str
) -> None:
    with pytest.raises(InvalidWarmupRequests) as info:
        write_warmup_requests(half_plus_two_copy, items)
    assert message in str(info.value)
    assert not os.path.exists(warmup_path(half_plus_two_copy))


def test_rejects_more_records_than_tf_serving_loads(half_plus_two_copy: str) -> None:
    too_many = [{"x": np.array([1.0], np.float32)}] * (MAX_WARMUP_RECORDS + 1)
    with pytest.raises(InvalidWarmupRequests, match="got 1001"):
        write_warmup_requests(half_plus_two_copy, too_many)
    # A file written by other tools is checked on reading too.
    import tensorflow as tf

    path = warmup_path(half_plus_two_copy)
    os.makedirs(os.path.dirname(path))
    record = build_predict_log({"x": np.array([1.0], np.float32)}).SerializeToString()
    with tf.io.TFRecordWriter(path) as writer:
        for _ in range(MAX_WARMUP_RECORDS + 1):
            writer.write(record)
    with pytest.raises(InvalidWarmupRequests, match="more than 1000 records"):
        read_warmup_requests(path)


def write_records(path: str, records: list[bytes]) -> None:
    import tensorflow as tf

    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for record in records:
            writer.write(record)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "expected a warmup file"),
        (b"garbage, not a TFRecord", "not a valid TFRecord file"),
        ([b"\xff\xff\xff"], "record 0 is not a serialized PredictionLog"),
        ([b""], "record 0 holds no request"),
    ],
)
def test_reader_reports_broken_files(
    half_plus_two_copy: str, content: bytes | list[bytes] | None, message: str
) -> None:
    path = warmup_path(half_plus_two_copy)
    if isinstance(content, bytes):
        os.makedirs(os.path.dirname(path))
        with open(path, "wb") as f:
            f.write(content)
    elif isinstance(content, list):
        write_records(path, content)
    with pytest.raises(InvalidWarmupRequests, match=message):
        read_warmup_requests(path)


def test_reader_checks_signatures_when_given_the_model(half_plus_two_copy: str) -> None:
    path = warmup_path(half_plus_two_copy)
    write_records(path, [build_predict_log({"z": [1.0]}).SerializeToString()])
    assert len(read_warmup_requests(path)) == 1  # a bare file: structure only
    with pytest.raises(InvalidWarmupRequests, match=r"expected inputs \['x'\], got \['z'\]"):
        read_warmup_requests(path, saved_model_dir=half_plus_two_copy)


def test_a_warmup_request_may_leave_out_inputs_with_defaults(
    defaults_model: str, tmp_path: Any
) -> None:
    target = str(tmp_path / "defaults" / "1")
    shutil.copytree(defaults_model, target)
    write_warmup_requests(target, [{"x": np.array([1.0], np.float32)}])
    assert len(read_warmup_requests(target)) == 1
    with pytest.raises(InvalidWarmupRequests, match=r"\['scale'\] may be left out"):
        write_warmup_requests(target, [{"scale": np.float32(2.0)}])
