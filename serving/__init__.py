"""TensorFlow Serving, split by audience.

- `seqline.serving.server`: the TF-Serving-compatible model server (`seqline serve`): gRPC and
  REST services, the model manager, servables, batching, metrics, flags, TLS.
- `seqline.serving.client`: what a client host needs to call a server (gRPC and REST clients,
  retries, model status, forecasting on top of Predict). It imports no server module.
- `seqline.serving.deploy`: what changes a serving directory: warmup records, models.config
  (model_config lives at the top level because the server reads it too), reload, rollback.

Shared by all three at this level: errors, tensor_codec, request_limits, request_inputs,
model_config, version_dirs (the one version-directory scanner) and quiet_logs; files go
through seqline.storage. Imports nothing from seqline.pipeline: a serving host needs only
TensorFlow and grpcio.

`PredictionClient` and `RestClient` are re-exported here for users, loaded on first use so that
importing seqline.serving stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from seqline.serving.client.client import PredictionClient
    from seqline.serving.client.rest_client import RestClient

__all__ = ["PredictionClient", "RestClient"]


def __getattr__(name: str) -> Any:
    # Lazy re-export: `from seqline.serving import PredictionClient` works without every
    # `import seqline.serving.<module>` paying for grpc and the TF Serving protos.
    if name == "PredictionClient":
        from seqline.serving.client.client import PredictionClient

        return PredictionClient
    if name == "RestClient":
        from seqline.serving.client.rest_client import RestClient

        return RestClient
    raise AttributeError(f"module 'seqline.serving' has no attribute {name!r}")
