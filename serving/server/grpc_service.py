"""gRPC servicers: tensorflow.serving.PredictionService and ModelService on the stock stubs.

Thin: each method hands the request to InferenceService / ModelManager and turns ServingError
into the call's status code and details. An unexpected exception becomes INTERNAL and is
logged; it never takes the server down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import grpc
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
    status_pb2,
)

from seqline.serving.errors import Code, ServingError, invalid_argument
from seqline.serving.model_config import configs_from_proto
from seqline.serving.server.inference import InferenceService
from seqline.serving.server.model_manager import ModelManager

log = logging.getLogger(__name__)

_GRPC_CODES = {code.value[0]: code for code in grpc.StatusCode}


def grpc_code(code: Code) -> grpc.StatusCode:
    return _GRPC_CODES[int(code)]


def _answer(context: grpc.ServicerContext, call: Callable[[], Any], method: str) -> Any:
    try:
        return call()
    except ServingError as e:
        context.abort(grpc_code(e.code), e.message)
    except Exception as e:
        log.exception("%s failed unexpectedly", method)
        context.abort(grpc.StatusCode.INTERNAL, f"{method}: {type(e).__name__}: {e}")


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict, Classify, Regress, MultiInference, GetModelMetadata."""

    def __init__(self, service: InferenceService) -> None:
        self._service = service

    def Predict(self, request, context):
        try:
            return self._service.predict(request)
        except ServingError as e:  # inlined _answer: Predict is the latency-critical path
            context.abort(grpc_code(e.code), e.message)
        except Exception as e:
            log.exception("Predict failed unexpectedly")
            context.abort(grpc.StatusCode.INTERNAL, f"Predict: {type(e).__name__}: {e}")

    def Classify(self, request, context):
        return _answer(context, lambda: self._service.classify(request), "Classify")

    def Regress(self, request, context):
        return _answer(context, lambda: self._service.regress(request), "Regress")

    def MultiInference(self, request, context):
        return _answer(context, lambda: self._service.multi_inference(request), "MultiInference")

    def GetModelMetadata(self, request, context):
        return _answer(
            context, lambda: self._service.get_model_metadata(request), "GetModelMetadata"
        )


def fill_model_status(
    manager: ModelManager, model_spec, response: get_model_status_pb2.GetModelStatusResponse
) -> None:
    """Fills a GetModelStatusResponse for ``model_spec`` (name, optional version)."""
    if model_spec.WhichOneof("version_choice") == "version_label":
        version = manager.resolve(model_spec.name, label=model_spec.version_label).version
    elif model_spec.HasField("version"):
        version = model_spec.version.value
    else:
        version = None
    for status in manager.status(model_spec.name, version):
        entry = response.model_version_status.add()
        entry.version = status.version
        entry.state = status.state
        entry.status.error_code = int(status.error_code)
        entry.status.error_message = status.error_message


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus and HandleReloadConfigRequest."""

    def __init__(self, manager: ModelManager) -> None:
        self._manager = manager

    def GetModelStatus(self, request, context):
        def call():
            if not request.HasField("model_spec"):
                raise invalid_argument("Missing ModelSpec")
            response = get_model_status_pb2.GetModelStatusResponse()
            fill_model_status(self._manager, request.model_spec, response)
            return response

        return _answer(context, call, "GetModelStatus")

    def HandleReloadConfigRequest(self, request, context):
        def call():
            try:
                configs = configs_from_proto(request.config)
            except ValueError as e:
                raise invalid_argument(str(e)) from e
            self._manager.reload(configs)
            response = model_management_pb2.ReloadConfigResponse()
            response.status.CopyFrom(status_pb2.StatusProto(error_code=0))
            return response

        return _answer(context, call, "HandleReloadConfigRequest")
