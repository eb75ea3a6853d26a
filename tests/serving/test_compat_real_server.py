"""The client checks against a real tensorflow_model_server.

No tensorflow_model_server can be installed on our machines, so this suite runs only where one
is reachable: start it with TF Serving's half_plus_two test model, e.g.

    MODEL=$TF_SERVING/tensorflow_serving/servables/tensorflow/testdata/saved_model_half_plus_two_cpu
    docker run -p 8500:8500 -p 8501:8501 -v "$MODEL:/models/half_plus_two" \\
      -e MODEL_NAME=half_plus_two tensorflow/serving

and set SEQLINE_TF_SERVING_ADDRESS=127.0.0.1:8500 (gRPC), optionally
SEQLINE_TF_SERVING_REST=http://127.0.0.1:8501 (REST checks) and SEQLINE_TF_SERVING_MODEL
(default half_plus_two). The same checks run against `seqline serve` in test_client.py.
"""

from __future__ import annotations

import os

import pytest

from seqline.serving.client.client import PredictionClient
from seqline.serving.client.rest_client import RestClient
from tests.serving.serving_client_checks import run_all

ADDRESS = os.environ.get("SEQLINE_TF_SERVING_ADDRESS", "")
REST_URL = os.environ.get("SEQLINE_TF_SERVING_REST", "")
MODEL = os.environ.get("SEQLINE_TF_SERVING_MODEL", "half_plus_two")

NO_SERVER = (
    "no real tensorflow_model_server to test against (none can be installed here); set {var} "
    "to the {what} of one serving TF Serving's half_plus_two test model"
)


@pytest.mark.skipif(
    not ADDRESS,
    reason=NO_SERVER.format(var="SEQLINE_TF_SERVING_ADDRESS", what="gRPC host:port"),
)
def test_grpc_client_against_real_tf_serving() -> None:
    with (
        PredictionClient(ADDRESS, MODEL, timeout=10.0) as client,
        PredictionClient(ADDRESS, "seqline_no_such_model", timeout=10.0) as unknown,
    ):
        run_all(client, unknown)


@pytest.mark.skipif(
    not REST_URL,
    reason=NO_SERVER.format(var="SEQLINE_TF_SERVING_REST", what="REST base URL"),
)
def test_rest_client_against_real_tf_serving() -> None:
    run_all(RestClient(REST_URL, MODEL), RestClient(REST_URL, "seqline_no_such_model"))
