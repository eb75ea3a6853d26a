"""Telling a running model server about a new config, and waiting until a version serves.

Both use only TF Serving's stock ModelService (HandleReloadConfigRequest, GetModelStatus), so
they work against tensorflow_model_server and `seqline serve` alike.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from seqline.serving.client.retry import RequestFailed
from seqline.serving.errors import Code
from seqline.serving.model_config import ModelConfig, configs_to_proto


def reload_config(target: str, configs: Iterable[ModelConfig], timeout: float = 60.0) -> None:
    """Sends HandleReloadConfigRequest with ``configs`` to the gRPC server at ``target``.

    The server answers once new and changed models are loaded (TF Serving does the same).

    Raises:
        RequestFailed: the call failed (unreachable, deadline) or the server reported an error
            status; the message is the server's.
    """
    import grpc
    from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc

    request = model_management_pb2.ReloadConfigRequest()
    request.config.CopyFrom(configs_to_proto(configs))
    with grpc.insecure_channel(target) as channel:
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        try:
            response = stub.HandleReloadConfigRequest(request, timeout=timeout)
        except grpc.RpcError as exc:
            raise RequestFailed(
                Code(exc.code().value[0]),
                f"server {target}: {exc.details()}",
                method="HandleReloadConfigRequest",
            ) from exc
    if response.status.error_code != 0:
        raise RequestFailed(
            response.status.error_code,
            f"server {target}: {response.status.error_message}",
            method="HandleReloadConfigRequest",
        )


def reload_and_wait(
    target: str,
    configs: Iterable[ModelConfig],
    model_name: str,
    version: int,
    timeout: float = 120.0,
) -> None:
    """Reloads the server's config, then polls GetModelStatus until ``model_name`` at
    ``version`` is AVAILABLE.

    Raises:
        RequestFailed: the reload failed; the version failed to load (END with an error: the
            server's load error message); or it was not AVAILABLE within ``timeout`` seconds.
    """
    from seqline.serving.client.client import PredictionClient

    deadline = time.monotonic() + timeout
    reload_config(target, list(configs), timeout=timeout)
    with PredictionClient(target, model_name) as client:
        client.wait_until_available(version, timeout=max(deadline - time.monotonic(), 1.0))
