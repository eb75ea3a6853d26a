"""A loaded model version (a "servable" in TF Serving's words) and how to load one.

``read_saved_model`` doubles as the completeness check of a version directory: a directory
whose ``saved_model.pb`` is missing is still being written and is not a load candidate (not a
failure either); one whose file does not parse is either being written or broken, which the
model manager tells apart by watching the file (and then reports a broken one).
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field

import tensorflow as tf
from google.protobuf import any_pb2
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2
from tensorflow.python.util import deprecation
from tensorflow_serving.apis import get_model_metadata_pb2

from seqline.serving.errors import Code, ServingError
from seqline.serving.server import signature_runner
from seqline.serving.server.signature_runner import SignatureRunner

log = logging.getLogger(__name__)

SAVED_MODEL_PB = "saved_model.pb"
SAVED_MODEL_PBTXT = "saved_model.pbtxt"
SERVE_TAG = "serve"
# `seqline serve --tensorflow_runtime`: how signatures run (see load_servable).
SESSION_RUNTIME, FUNCTION_RUNTIME = "session", "function"
# "session" without the fallback: a model the Session cannot run fails to load, as it would in
# tensorflow_model_server (infra_validate's server uses it).
STRICT_SESSION_RUNTIME = "session_strict"
RUNTIME_CHOICES = (SESSION_RUNTIME, STRICT_SESSION_RUNTIME, FUNCTION_RUNTIME)


@dataclass(frozen=True)
class SavedModelRead:
    """What reading a version directory's SavedModel file gave.

    ``proto``: the parsed SavedModel (None if it is missing or broken); ``path``: the file
    read (saved_model.pb, else saved_model.pbtxt; None when neither exists); ``error``: why a
    file that exists gave no proto ("" otherwise).
    """

    proto: saved_model_pb2.SavedModel | None
    path: str | None = None
    error: str = ""


def read_saved_model(version_dir: str) -> SavedModelRead:
    """Reads ``version_dir``'s saved_model.pb (or .pbtxt): the proto, or why there is none.

    A file that does not parse, or parses to no MetaGraph at all (an empty or truncated
    file, or not a SavedModel), gives ``error``; the caller tells a copy in progress from a
    broken file by watching it (model_manager). A parsed proto without a "serve" MetaGraph
    is returned: loading it fails with a clear message and is retried like any failed load.
    """
    from google.protobuf import message, text_format

    proto = saved_model_pb2.SavedModel()
    pb = os.path.join(version_dir, SAVED_MODEL_PB)
    pbtxt = os.path.join(version_dir, SAVED_MODEL_PBTXT)
    path = None
    try:
        if tf.io.gfile.exists(pb):
            path = pb
            with tf.io.gfile.GFile(pb, "rb") as f:
                proto.ParseFromString(f.read())
        elif tf.io.gfile.exists(pbtxt):
            path = pbtxt
            with tf.io.gfile.GFile(pbtxt, "r") as f:
                text_format.Parse(f.read(), proto)
        else:
            return SavedModelRead(None)
    except (message.DecodeError, text_format.ParseError) as e:
        return SavedModelRead(None, path, f"Can't parse {path} as a SavedModel proto: {e}")
    except tf.errors.OpError as e:
        return SavedModelRead(None, path, f"Can't read {path}: {e.message}")
    if not proto.meta_graphs:
        why = "an empty or truncated file, or not a SavedModel"
        return SavedModelRead(None, path, f"{path} holds no MetaGraph ({why})")
    return SavedModelRead(proto, path)


def read_saved_model_proto(version_dir: str) -> saved_model_pb2.SavedModel | None:
    """The parsed SavedModel proto of ``version_dir``, or None while it is incomplete.

    None when neither saved_model.pb nor saved_model.pbtxt exists or the file does not parse
    (a copy in progress, or a broken file: read_saved_model says which file and why).
    """
    return read_saved_model(version_dir).proto


def is_runnable_signature(key: str) -> bool:
    """False for the SavedModel's internal SignatureDefs (``__saved_model_init_op``: names
    starting with "__"), which GetModelMetadata lists but no request can run."""
    return not key.startswith("__")


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

    ``signatures`` maps the runnable signature names to runners; ``signature_def_map`` holds
    every SignatureDef (``__saved_model_init_op`` too, as TF Serving's metadata does) and
    ``metadata_any`` is it packed in Any, built once for GetModelMetadata. ``in_flight``
    counts requests using the version, so unloading can wait for them; ``close`` (on unload)
    then frees what runs the signatures: the session runtime's callables and Session.
    """

    name: str
    version: int
    path: str
    signatures: dict[str, SignatureRunner]
    signature_def_map: get_model_metadata_pb2.SignatureDefMap
    metadata_any: any_pb2.Any
    # keeps what runs the signatures alive: the tf.saved_model.load result (variables,
    # resources), or the tf.compat.v1.Session of the session runtime
    loaded: object
    # how the signatures run: SESSION_RUNTIME (a Session, strict or not) or FUNCTION_RUNTIME
    runtime: str = FUNCTION_RUNTIME
    in_flight: int = 0
    _lock: threading.Condition = field(default_factory=threading.Condition, repr=False)
    # close() was called: no new request may hold this version
    closing: bool = False
    # what runs the signatures has been freed (close() with no request in flight, or the
    # last in-flight request's release after close())
    closed: bool = False

    def acquire(self) -> None:
        """Holds the version for one request. UNAVAILABLE once it is closing: a request that
        resolved it just before it unloaded gets an error instead of a closed Session."""
        with self._lock:
            if self.closing:
                raise ServingError(
                    Code.UNAVAILABLE,
                    f"model {self.name} version {self.version} was unloaded; retry the request",
                )
            self.in_flight += 1

    def release(self) -> None:
        with self._lock:
            self.in_flight -= 1
            if self.in_flight == 0:
                self._lock.notify_all()
                if self.closing:
                    self._free()

    def close(self) -> None:
        """Frees what runs the signatures (called when the version unloads, after its drain):
        with the session runtime the Session callables are released and the
        tf.compat.v1.Session closed now, instead of whenever garbage collection gets to them
        (native memory grew on every reload otherwise). Requests still in flight finish first:
        the last one's release frees it. Idempotent."""
        with self._lock:
            self.closing = True
            if self.in_flight == 0:
                self._free()

    def _free(self) -> None:
        """Called with _lock held, once no request holds the version."""
        if self.closed:
            return
        self.closed = True
        for runner in self.signatures.values():
            runner.release()
        loaded, self.loaded = self.loaded, None
        if isinstance(loaded, tf.compat.v1.Session):
            try:
                loaded.close()
            except Exception as e:  # a failing close must not fail the unload
                log.warning("model %s version %d: closing its Session failed: %s",
                            self.name, self.version, e)  # fmt: skip

    def wait_idle(self, timeout: float) -> bool:
        """Waits until no request uses this version; False if ``timeout`` seconds passed."""
        with self._lock:
            return self._lock.wait_for(lambda: self.in_flight == 0, timeout=timeout)


def _session_config() -> tf.compat.v1.ConfigProto:
    """The Session's ConfigProto: the process's TensorFlow thread-pool sizes (0 = automatic;
    a Session does not read tf.config.threading by itself) and soft placement, as eager
    placement has."""
    threading_config = tf.config.threading
    return tf.compat.v1.ConfigProto(
        intra_op_parallelism_threads=threading_config.get_intra_op_parallelism_threads(),
        inter_op_parallelism_threads=threading_config.get_inter_op_parallelism_threads(),
        allow_soft_placement=True,
    )


def _ops_feeding(graph: tf.Graph, fetches: list[str]) -> list[tf.Operation]:
    """The operations the tensors named `fetches` depend on (inputs and control inputs): a
    function call's captured variables are inputs of its call op, so they are found."""
    seen: dict[str, tf.Operation] = {}
    stack = [graph.get_tensor_by_name(name).op for name in fetches]
    while stack:
        op = stack.pop()
        if op.name in seen:
            continue
        seen[op.name] = op
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
    return list(seen.values())


def _check_variables_restored(
    session: tf.compat.v1.Session, graph: tf.Graph, fetches: list[str]
) -> None:
    """ValueError unless the TF1 loader initialised every resource variable the tensors named
    `fetches` (the signatures' outputs) read.

    A TF2 SavedModel can hold variables the TF1 loader does not restore: a Keras 3 model held
    by a tf.Module exports a copy of each variable for the restore op while its functions read
    the original (components/train/session_restorable.py), and the Session fails only when a
    request reads one. Checked at load, so "session" falls back and "session_strict" refuses.
    """
    handles = [op.outputs[0] for op in _ops_feeding(graph, fetches) if op.type == "VarHandleOp"]
    if not handles:
        return
    initialized = session.run([tf.raw_ops.VarIsInitializedOp(resource=h) for h in handles])
    missing = [h.op.name for h, ok in zip(handles, initialized, strict=True) if not ok]
    if missing:
        raise ValueError(
            f"the TF1 loader left {len(missing)} of {len(handles)} variables unrestored "
            f"(e.g. {missing[:3]}), so tensorflow_model_server would fail on every request that "
            "reads them; a Keras 3 model held by a tf.Module exports so: track the tf.Variables "
            "under its variables instead (seqline's exports do since 2026-12-06)"
        )


def _session_signatures(
    path: str, tags: tuple[str, ...], keys: list[str]
) -> tuple[object, dict[str, SignatureRunner]]:
    """(session, runners of ``keys``): the MetaGraph loaded into a tf.compat.v1.Session."""
    graph = tf.Graph()
    session = tf.compat.v1.Session(graph=graph, config=_session_config())
    try:
        # The TF1 loader logs a deprecation warning on first use; it is the supported way to
        # run a MetaGraph in a Session (what tensorflow_model_server does), so keep logs quiet.
        with graph.as_default(), deprecation.silence():
            meta_graph = tf.compat.v1.saved_model.load(session, list(tags), path)
            outputs = [
                info.name
                for key in keys
                for info in meta_graph.signature_def[key].outputs.values()
                if info.WhichOneof("encoding") == "name"
            ]
            _check_variables_restored(session, graph, outputs)
        inline = signature_runner.runs_inline()
        runners = {
            key: SignatureRunner.from_session(
                key,
                session,
                meta_graph.signature_def[key],
                meta_graph.signature_def[key].method_name,
                inline=inline,
            )
            for key in keys
        }
    except BaseException:
        session.close()
        raise
    return session, runners


def load_servable(
    name: str,
    version: int,
    path: str,
    tags: tuple[str, ...] = (SERVE_TAG,),
    runtime: str = SESSION_RUNTIME,
) -> Servable:
    """Loads the MetaGraph tagged ``tags`` of the SavedModel at ``path`` as version
    ``version`` of model ``name``.

    ``runtime`` (`seqline serve --tensorflow_runtime`): "session" (default) loads the
    MetaGraph into a tf.compat.v1.Session, as tensorflow_model_server does, and runs each
    signature through a Session callable, on the request's own thread unless
    ``--tensorflow_executor=default`` or a GPU is present (the lowest batch-1 latency: no
    inter-op pool hand-off); a model it cannot load or run that way (sparse or composite
    signature tensors, a graph the TF1 loader refuses or leaves variables of unrestored) falls
    back to "function", with a warning (the returned Servable's ``runtime`` says which ran;
    the model manager also falls back when the version's warmup fails in the Session).
    "session_strict" is "session" without the fallback: such a model fails to load (ValueError),
    as it would in tensorflow_model_server. "function" loads with tf.saved_model.load and calls
    the restored signature functions eagerly (signature_runner.SignatureRunner's direct call).

    Raises ValueError when the directory is incomplete or has no such MetaGraph, and
    whatever tf.saved_model.load raises for a broken model (the manager records it).
    """
    if runtime not in RUNTIME_CHOICES:
        raise ValueError(f"tensorflow_runtime: expected one of {RUNTIME_CHOICES}, got {runtime!r}")
    proto = read_saved_model_proto(path)
    if proto is None:
        raise ValueError(f"{path} has no complete {SAVED_MODEL_PB}")
    meta_graph = serve_meta_graph(proto, tags)
    # GetModelMetadata lists every SignatureDef, __saved_model_init_op included, as TF
    # Serving does; only the others run.
    signature_def_map = get_model_metadata_pb2.SignatureDefMap()
    for key, signature_def in meta_graph.signature_def.items():
        signature_def_map.signature_def[key].CopyFrom(signature_def)
    runnable = [key for key in signature_def_map.signature_def if is_runnable_signature(key)]
    signatures: dict[str, SignatureRunner] = {}
    loaded: object = None
    ran_with = FUNCTION_RUNTIME
    if runtime in (SESSION_RUNTIME, STRICT_SESSION_RUNTIME):
        try:
            loaded, signatures = _session_signatures(path, tags, runnable)
            ran_with = SESSION_RUNTIME
        except Exception as e:
            if runtime == STRICT_SESSION_RUNTIME:
                raise ValueError(
                    f"{path}: tensorflow_model_server could not run this model "
                    f"({type(e).__name__}: {e}); --tensorflow_runtime={runtime} refuses it"
                ) from e
            log.warning(
                "model %s version %d: cannot run its signatures in a TF1 Session (%s: %s); "
                "using the function runtime",
                name,
                version,
                type(e).__name__,
                e,
            )
    if loaded is None:
        restored = tf.saved_model.load(path, tags=list(tags))
        for key in runnable:
            if key in restored.signatures:
                signature_def = signature_def_map.signature_def[key]
                signatures[key] = SignatureRunner(
                    key, restored.signatures[key], signature_def.method_name, signature_def.defaults
                )
        loaded = restored
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
        runtime=ran_with,
    )
