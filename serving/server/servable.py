"""A loaded model version (a "servable" in TF Serving's words) and how to load one.

``read_saved_model_proto`` doubles as the completeness check of a version directory: a
directory whose ``saved_model.pb`` is missing or does not parse is still being written and is
not a load candidate (not a failure either).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

import tensorflow as tf
from google.protobuf import any_pb2
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2
from tensorflow_serving.apis import get_model_metadata_pb2

from seqline.serving.server.signature_runner import SignatureRunner

SAVED_MODEL_PB = "saved_model.pb"
SAVED_MODEL_PBTXT = "saved_model.pbtxt"
SERVE_TAG = "serve"


def read_saved_model_proto(version_dir: str) -> saved_model_pb2.SavedModel | None:
    """The parsed SavedModel proto of ``version_dir``, or None while it is incomplete.

    None when neither saved_model.pb nor saved_model.pbtxt exists or the file does not parse
    (a copy in progress). A parsed proto without a "serve" MetaGraph is returned: loading
    it fails with a clear message and is retried like any failed load.
    """
    from google.protobuf import message, text_format

    proto = saved_model_pb2.SavedModel()
    pb = os.path.join(version_dir, SAVED_MODEL_PB)
    pbtxt = os.path.join(version_dir, SAVED_MODEL_PBTXT)
    try:
        if tf.io.gfile.exists(pb):
            with tf.io.gfile.GFile(pb, "rb") as f:
                proto.ParseFromString(f.read())
        elif tf.io.gfile.exists(pbtxt):
            with tf.io.gfile.GFile(pbtxt, "r") as f:
                text_format.Parse(f.read(), proto)
        else:
            return None
    except (message.DecodeError, text_format.ParseError, tf.errors.OpError):
        return None
    if not proto.meta_graphs:
        return None
    return proto


def serve_meta_graph(
    proto: saved_model_pb2.SavedModel, tags: tuple[str, ...] = (SERVE_TAG,)
) -> meta_graph_pb2.MetaGraphDef:
    """The MetaGraphDef whose tag set is exactly ``tags`` (default {"serve"}, what
    tensorflow_model_server loads unless --saved_model_tags says otherwise)."""
    for meta_graph in proto.meta_graphs:
        if set(meta_graph.meta_info_def.tags) == set(tags):
            return meta_graph
    present = [sorted(m.meta_info_def.tags) for m in proto.meta_graphs]
    raise ValueError(
        f"no MetaGraph tagged {sorted(tags)} (tag sets present: {present}); pass "
        "--saved_model_tags with one of them, comma-separated"
    )


@dataclass
class Servable:
    """One loaded version of one model.

    ``signatures`` maps signature names to runners; ``metadata_any`` is the SignatureDefMap
    packed in Any, built once for GetModelMetadata. ``in_flight`` counts requests using the
    version, so unloading can wait for them.
    """

    name: str
    version: int
    path: str
    signatures: dict[str, SignatureRunner]
    signature_def_map: get_model_metadata_pb2.SignatureDefMap
    metadata_any: any_pb2.Any
    loaded: object  # keeps the tf.saved_model.load result (variables, resources) alive
    in_flight: int = 0
    _lock: threading.Condition = field(default_factory=threading.Condition, repr=False)

    def acquire(self) -> None:
        with self._lock:
            self.in_flight += 1

    def release(self) -> None:
        with self._lock:
            self.in_flight -= 1
            if self.in_flight == 0:
                self._lock.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Waits until no request uses this version; False if ``timeout`` seconds passed."""
        with self._lock:
            return self._lock.wait_for(lambda: self.in_flight == 0, timeout=timeout)


def load_servable(
    name: str, version: int, path: str, tags: tuple[str, ...] = (SERVE_TAG,)
) -> Servable:
    """Loads the MetaGraph tagged ``tags`` of the SavedModel at ``path`` as version
    ``version`` of model ``name``.

    Raises ValueError when the directory is incomplete or has no such MetaGraph, and
    whatever tf.saved_model.load raises for a broken model (the manager records it).
    """
    proto = read_saved_model_proto(path)
    if proto is None:
        raise ValueError(f"{path} has no complete {SAVED_MODEL_PB}")
    meta_graph = serve_meta_graph(proto, tags)
    loaded = tf.saved_model.load(path, tags=list(tags))
    signatures: dict[str, SignatureRunner] = {}
    signature_def_map = get_model_metadata_pb2.SignatureDefMap()
    for key, signature_def in meta_graph.signature_def.items():
        if key.startswith("__"):  # e.g. __saved_model_init_op: not a serving signature
            continue
        signature_def_map.signature_def[key].CopyFrom(signature_def)
        if key in loaded.signatures:
            signatures[key] = SignatureRunner(
                key, loaded.signatures[key], signature_def.method_name
            )
    metadata_any = any_pb2.Any()
    metadata_any.Pack(signature_def_map)
    return Servable(
        name=name,
        version=version,
        path=path,
        signatures=signatures,
        signature_def_map=signature_def_map,
        metadata_any=metadata_any,
        loaded=loaded,
    )
