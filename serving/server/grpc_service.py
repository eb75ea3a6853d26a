"""gRPC servicers: tensorflow.serving.PredictionService and ModelService on the stock stubs.

Thin: each method hands the request to InferenceService / ModelManager and turns ServingError
into the call's status code and details. An unexpected exception becomes INTERNAL and is
logged; it never takes the server down.

Draining: every method passes a DrainGate first. Once the server stops (SIGTERM), the gate
is closed and a call that was not already inside a method is answered UNAVAILABLE without
being run, while the gRPC server itself keeps running until the calls inside have finished.
grpcio's ``server.stop(grace)`` is called only then: it would cancel (CANCELLED, a code a
client cannot retry safely) calls that had reached the server but not a handler yet.
"""

from __future__ import annotations

import logging
import threading
import time
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


DRAINING_DETAILS = (
    "the server is shutting down and did not run this call; retry it (on another instance, "
    "or here after the restart)"
)


class DrainGate:
    """Counts the gRPC calls inside a servicer method; after ``close()`` no call enters.

    ``enter()`` is True when the call may run (then ``leave()`` when it is done) and False
    once closed: the caller answers UNAVAILABLE with DRAINING_DETAILS, the call not run.
    ``wait_idle(deadline)`` waits until no call is inside (True) or ``deadline`` passes.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._inside = 0
        self.closed = False

    def enter(self) -> bool:
        with self._changed:
            if self.closed:
                return False
            self._inside += 1
            return True

    def leave(self) -> None:
        with self._changed:
            self._inside -= 1
            if self.closed and not self._inside:
                self._changed.notify_all()

    def close(self) -> None:
        """From now on every call is refused; the ones inside go on."""
        with self._changed:
            self.closed = True

    def inside(self) -> int:
        """Calls running in a servicer method now."""
        with self._changed:
            return self._inside

    def wait_idle(self, deadline: float) -> bool:
        """Waits (up to ``deadline``, time.monotonic()) until no call is inside."""
        with self._changed:
            return self._changed.wait_for(
                lambda: not self._inside, timeout=max(0.0, deadline - time.monotonic())
            )


def _refuse_draining(context: grpc.ServicerContext) -> None:
    context.abort(grpc.StatusCode.UNAVAILABLE, DRAINING_DETAILS)


def _answer(
    context: grpc.ServicerContext, call: Callable[[], Any], method: str, gate: DrainGate
) -> Any:
    if not gate.enter():
        _refuse_draining(context)
    try:
        return call()
    except ServingError as e:
        context.abort(grpc_code(e.code), e.message)
    except Exception as e:
        log.exception("%s failed unexpectedly", method)
        context.abort(grpc.StatusCode.INTERNAL, f"{method}: {type(e).__name__}: {e}")
    finally:
        gate.leave()


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict, Classify, Regress, MultiInference, GetModelMetadata."""

    def __init__(self, service: InferenceService, gate: DrainGate | None = None) -> None:
        self._service = service
        self._gate = gate if gate is not None else DrainGate()

    def Predict(self, request, context):
        gate = self._gate  # inlined _answer: Predict is the latency-critical path
        if not gate.enter():
            _refuse_draining(context)
        try:
            return self._service.predict(request)
        except ServingError as e:
            context.abort(grpc_code(e.code), e.message)
        except Exception as e:
            log.exception("Predict failed unexpectedly")
            context.abort(grpc.StatusCode.INTERNAL, f"Predict: {type(e).__name__}: {e}")
        finally:
            gate.leave()

    def Classify(self, request, context):
        return _answer(context, lambda: self._service.classify(request), "Classify", self._gate)

    def Regress(self, request, context):
        return _answer(context, lambda: self._service.regress(request), "Regress", self._gate)

    def MultiInference(self, request, context):
        return _answer(
            context, lambda: self._service.multi_inference(request), "MultiInference", self._gate
        )

    def GetModelMetadata(self, request, context):
        return _answer(
            context,
            lambda: self._service.get_model_metadata(request),
            "GetModelMetadata",
            self._gate,
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

    def __init__(self, manager: ModelManager, gate: DrainGate | None = None) -> None:
        self._manager = manager
        self._gate = gate if gate is not None else DrainGate()

    def GetModelStatus(self, request, context):
        def call():
            if not request.HasField("model_spec"):
                raise invalid_argument("Missing ModelSpec")
            response = get_model_status_pb2.GetModelStatusResponse()
            fill_model_status(self._manager, request.model_spec, response)
            return response

        return _answer(context, call, "GetModelStatus", self._gate)

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

        return _answer(context, call, "HandleReloadConfigRequest", self._gate)
