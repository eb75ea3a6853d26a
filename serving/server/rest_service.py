"""TF Serving's REST API on a ThreadingHTTPServer (HTTP/1.1 keep-alive, Nagle disabled).

Routes (``{spec}`` = ``{name}``, ``{name}/versions/{v}`` or ``{name}/labels/{l}``):

- ``GET  /v1/models/{spec}``            model status   {"model_version_status": [...]}
- ``GET  /v1/models/{spec}/metadata``   signature defs {"model_spec": ..., "metadata": ...}
- ``POST /v1/models/{spec}:predict``    {"instances"|"inputs", "signature_name"?, "output_filter"?}
- ``POST /v1/models/{spec}:classify``   {"examples", "context"?, "signature_name"?}
- ``POST /v1/models/{spec}:regress``    same body as classify
- ``GET  /monitoring/prometheus/metrics``

Paths are matched case-insensitively, as TF Serving's regexes are (``/V1/Models/m:predict``);
a path under ``/v1/`` that fits no route is INVALID_ARGUMENT ("Malformed request", 400) and a
status or metadata path without a model name "Missing model name in request." (400), as there.
Errors answer ``{"error": "<message>"}`` with the HTTP status TF Serving maps the code to.
Without TCP_NODELAY, a response written in two segments waits for the client's delayed ACK
(~40 ms per request); each response is also written with a single send.

Connections: one thread per connection (HTTP/1.1 keep-alive), at most ``max_connections``
open (``--rest_api_max_connections``; one more is answered 503 and closed), at most ``num_threads``
requests processed at once (``--rest_api_num_threads``; a request waits for a free slot up to
``timeout_seconds`` and then answers UNAVAILABLE), and ``timeout_seconds``
(``--rest_api_timeout_in_ms``) for a client to send a request or stay idle. With an
``ssl_context`` every connection is TLS (handshake in the connection's thread, bounded by
the same timeout).

Draining (``stop_accepting`` then ``drain(deadline)``): the accept loop stops, connections
the kernel had already accepted (the listen backlog) are taken, then the listener closes:
closing it with connections in the backlog would reset them, and a client that had sent its
request could not tell whether it ran. Every connection open then is answered: a request
being processed finishes, a connection that has not sent its first request yet may send it
until ``deadline`` and it is served, and idle keep-alive connections (a request served,
waiting for the next) are closed (a request already queued on one is read first and
served). Every response says ``Connection: close``. ``drain`` returns when every connection
has ended, or at ``deadline`` (connections still waiting for a first request are closed).
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import os
import re
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from google.protobuf import json_format
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    regression_pb2,
)

from seqline.serving.errors import HTTP_STATUS, Code, ServingError, invalid_argument
from seqline.serving.request_limits import check_json_body_size
from seqline.serving.server.grpc_service import fill_model_status
from seqline.serving.server.inference import UNKNOWN_LABEL, InferenceService
from seqline.serving.server.json_codec import (
    decode_predict_body,
    encode_predict_outputs,
    fill_input_from_json,
    parse_json_request,
)
from seqline.serving.server.metrics import ServerMetrics
from seqline.serving.server.model_manager import STATE_NAMES, ModelManager

log = logging.getLogger(__name__)

# TF Serving's routes (http_rest_api_util.cc), matched in full and case-insensitively as its
# (?i) regexes are; a trailing "/" is tolerated. Every path under /v1/ is the API's: one that
# fits neither route is a malformed request (400), not an unknown page (404).
_API_PATH = re.compile(r"/v1/.*", re.IGNORECASE | re.DOTALL)
_VERSION_OR_LABEL = r"(?:/versions/(?P<version>[0-9]+)|/labels/(?P<label>[^/:]+))?"
_POST_PATH = re.compile(  # classify / regress / predict
    r"/v1/models/(?P<name>[^/:]+)" + _VERSION_OR_LABEL + r":(?P<verb>classify|regress|predict)/?",
    re.IGNORECASE,
)
_GET_PATH = re.compile(  # model status, or metadata; the name is optional to the regex
    r"/v1/models(?:/(?P<name>[^/:]+))?" + _VERSION_OR_LABEL + r"(?:/(?P<metadata>metadata))?/?",
    re.IGNORECASE,
)
_ROUTES = (
    "POST /v1/models/NAME[/versions/N|/labels/LABEL]:predict (or :classify, :regress), "
    "GET /v1/models/NAME[/versions/N|/labels/LABEL][/metadata]"
)
_VERBS = ("predict", "classify", "regress")
METRICS_PATH = "/monitoring/prometheus/metrics"  # TF Serving's default Prometheus path
# How long a drain waits for the first request of a connection accepted before the listener
# closed. A request already on its way arrives within moments; a silent connection would
# otherwise hold every stop for the whole grace period (and gRPC's port open with it).
FIRST_REQUEST_WAIT_SECONDS = 1.0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a client reuses its connection
    disable_nagle_algorithm = True  # TCP_NODELAY on every accepted socket
    server: RestServer

    def setup(self) -> None:
        # Seconds a connection may sit idle (or trickle a request) before it is closed
        # (--rest_api_timeout_in_ms): a slow client cannot hold a thread forever.
        self.timeout = self.server.timeout_seconds  # type: ignore[misc]
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.address_string(), format % args)

    # ---------------------------------------------------------------- responses

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        if self.server.draining:
            self.close_connection = True  # shutting down: no further request on this one
        head = (
            f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}\r\n"
            f"Content-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"{'Connection: close' if self.close_connection else 'Connection: keep-alive'}\r\n"
            "\r\n"
        ).encode("latin-1")
        self.wfile.write(head + body)  # one send: with NODELAY, no partial-segment stall
        self.log_request(status, len(body))

    def _send_json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(obj, separators=(",", ":")).encode("utf-8"))

    def _send_error(self, code: Code, message: str) -> None:
        self._send_json(HTTP_STATUS.get(code, 500), {"error": message})

    # ---------------------------------------------------------------- dispatch

    def do_GET(self) -> None:
        self._dispatch_in_slot("GET")

    def do_POST(self) -> None:
        self._dispatch_in_slot("POST")

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """What http.server answers by itself (unsupported method, malformed request line,
        oversized headers) in the API's {"error": ...} JSON instead of an HTML page."""
        self.close_connection = True
        text = message or self.responses.get(code, ("error",))[0]
        with contextlib.suppress(OSError):
            self._send_json(code, {"error": text})

    def _dispatch_in_slot(self, method: str) -> None:
        server = self.server
        server.request_started(self.connection)
        reserved = 0
        try:
            # The body is read before a processing slot is taken, within one deadline for the
            # whole body: clients trickling bodies byte by byte would otherwise hold every slot
            # and lock all REST traffic out. Bodies being read are bounded by declared bytes.
            try:
                length = self._declared_length() if method == "POST" else 0
                if length and not server.body_bytes.acquire(length, server.timeout_seconds):
                    raise ServingError(
                        Code.UNAVAILABLE,
                        f"{server.body_bytes.capacity} bytes of request bodies were being read "
                        f"for {server.timeout_seconds:g} s; retry with backoff",
                    )
                reserved = length
                body = self._read_body(length) if length else b""
            except ServingError as e:
                self.close_connection = True
                self._send_error(e.code, e.message)
                return
            except OSError:  # the client left or went silent (ConnectionError, TimeoutError)
                self.close_connection = True
                return
            if not server.slots.acquire(timeout=server.timeout_seconds):
                self.close_connection = True
                self._send_error(
                    Code.UNAVAILABLE,
                    f"all {server.num_threads} REST threads stayed busy for "
                    f"{server.timeout_seconds:g} s (--rest_api_num_threads); retry with backoff",
                )
                return
            try:
                self._dispatch(method, body)
            finally:
                server.slots.release()
        finally:
            if reserved:
                server.body_bytes.release(reserved)
            server.request_finished(self.connection)

    def _dispatch(self, method: str, body: bytes) -> None:
        try:
            path = self.path.split("?", 1)[0]
            if method == "GET" and path == self.server.metrics_path:
                text, content_type = self.server.metrics.render()
                self._send(200, text, content_type)
                return
            if not _API_PATH.fullmatch(path):
                raise ServingError(
                    Code.NOT_FOUND, f"Not found: {method} {path}; the API's routes are {_ROUTES}"
                )
            match = (_POST_PATH if method == "POST" else _GET_PATH).fullmatch(path)
            # TF Serving compares the verb as written (":PREDICT" is malformed) and takes a
            # subresource other than "metadata" as written for a status request.
            verb: str = match["verb"] if method == "POST" and match is not None else ""
            if match is None or (method == "POST" and verb not in _VERBS):
                raise invalid_argument(
                    f"Malformed request: {method} {path}; expected one of {_ROUTES}"
                )
            if match["name"] is None:
                raise invalid_argument(
                    f"Missing model name in request. Expected GET /v1/models/NAME, got {path}"
                )
            spec = model_pb2.ModelSpec(name=unquote(match["name"]))
            if match["version"] is not None:
                spec.version.value = _parse_version(match["version"])
            elif match["label"] is not None:
                spec.version_label = unquote(match["label"])
            if method == "GET" and match["metadata"] == "metadata":
                self._send_json(200, self._metadata(spec))
            elif method == "GET":
                self._send_json(200, self._counted(spec, self._status))
            else:
                limits = self.server.service.limits
                check_json_body_size(len(body), limits)
                request = parse_json_request(body, limits.max_json_depth)
                if verb == "predict":
                    self._send_json(200, self._predict(spec, request))
                else:
                    self._send_json(200, self._classify_or_regress(spec, request, verb))
        except ServingError as e:
            self._send_error(e.code, e.message)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except UnicodeEncodeError as e:
            # JSON may spell a lone surrogate ("\ud800"); Python parses it, but no field of a
            # request can hold it as UTF-8. TF Serving's parser refuses such a body outright.
            self._send_error(
                Code.INVALID_ARGUMENT,
                f"request strings must be valid Unicode; {e.object[e.start : e.end]!r} at "
                f"position {e.start} of a string is a lone surrogate",
            )
        except Exception as e:
            log.exception("REST %s %s failed unexpectedly", method, self.path)
            self._send_error(Code.INTERNAL, f"{type(e).__name__}: {e}")

    def _declared_length(self) -> int:
        """The body's Content-Length, checked: one header of ASCII digits, within the limit.
        Raises ServingError (the connection is then closed: its body is not read)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raise invalid_argument("chunked request bodies are not supported; send Content-Length")
        values = self.headers.get_all("Content-Length") or ["0"]
        # One plain decimal: int() would also take "1_9" or " +19", and two headers that
        # disagree would let a proxy in front read a different request than this server.
        if len(set(values)) != 1 or not re.fullmatch(r"[0-9]{1,19}", values[0].strip()):
            raise invalid_argument(
                f"Content-Length must be one non-negative decimal integer, got {values}"
            )
        length = int(values[0])
        if length > self.server.max_body_bytes:
            raise ServingError(
                Code.RESOURCE_EXHAUSTED,
                f"request body of {length} bytes exceeds the limit of "
                f"{self.server.max_body_bytes} bytes (max_message_size_bytes)",
            )
        return length

    def _read_body(self, length: int) -> bytes:
        """Reads ``length`` bytes within one deadline (--rest_api_timeout_in_ms) for the whole
        body, not per read: a client sending a byte now and then cannot hold the connection.
        Raises ServingError(DEADLINE_EXCEEDED) past it, ConnectionError if the client left."""
        deadline = time.monotonic() + self.server.timeout_seconds
        parts: list[bytes] = []
        remaining = length
        try:
            while remaining:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                self.connection.settimeout(left)
                chunk = self.rfile.read1(min(remaining, 1 << 20))
                if not chunk:
                    raise ConnectionError("the client closed the connection mid-body")
                parts.append(chunk)
                remaining -= len(chunk)
        except TimeoutError as e:  # socket.timeout
            raise ServingError(
                Code.DEADLINE_EXCEEDED,
                f"the request body ({length} bytes) did not arrive within "
                f"{self.server.timeout_seconds:g} s (--rest_api_timeout_in_ms); "
                f"{length - remaining} bytes came",
            ) from e
        finally:
            self.connection.settimeout(self.server.timeout_seconds)
        return b"".join(parts)

    # ---------------------------------------------------------------- endpoints

    def _counted(self, spec, answer) -> dict[str, Any]:
        """``answer(spec)``, counted in TF Serving's request_count / request_latency as its
        REST handler counts model status requests (API label "")."""
        start = time.perf_counter()
        code = Code.INTERNAL
        try:
            result = answer(spec)
            code = Code.OK
            return result
        except ServingError as e:
            code = e.code
            raise
        finally:
            manager = self.server.manager
            model = spec.name if manager.is_configured(spec.name) else UNKNOWN_LABEL
            tf_metrics = self.server.metrics.tf
            tf_metrics.request_count.increment(model, code.name)
            if code == Code.OK:
                micros = (time.perf_counter() - start) * 1e6
                tf_metrics.request_latency.add(micros, model, "", "REST")

    def _status(self, spec) -> dict[str, Any]:
        response = get_model_status_pb2.GetModelStatusResponse()
        fill_model_status(self.server.manager, spec, response)
        return {
            "model_version_status": [
                {
                    "version": str(entry.version),
                    "state": STATE_NAMES.get(entry.state, "UNKNOWN"),
                    "status": {
                        "error_code": Code(entry.status.error_code).name,
                        "error_message": entry.status.error_message,
                    },
                }
                for entry in response.model_version_status
            ]
        }

    def _metadata(self, spec) -> dict[str, Any]:
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        request.model_spec.CopyFrom(spec)
        response = self.server.service.get_model_metadata(request, api="rest")
        signature_defs = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signature_defs)
        return {
            "model_spec": {
                "name": response.model_spec.name,
                "signature_name": "",
                "version": str(response.model_spec.version.value),
            },
            "metadata": {"signature_def": message_to_json(signature_defs)},
        }

    def _predict(self, spec, request: dict[str, Any]) -> dict[str, Any]:
        _set_signature_name(spec, request)
        output_filter = request.get("output_filter", [])
        if not isinstance(output_filter, list) or not all(
            isinstance(a, str) for a in output_filter
        ):
            raise invalid_argument("'output_filter' must be a list of output alias strings")
        row_format: list[bool] = []

        def decode(runner):
            dtypes = {alias: s.np_dtype for alias, s in runner.inputs.items()}
            budget = self.server.service.limits.budget()
            inputs, rows = decode_predict_body(request, dtypes, budget, runner.defaults)
            row_format.append(rows)
            return inputs

        _servable, outputs = self.server.service.predict_json(spec, decode, output_filter)
        return encode_predict_outputs(outputs, row_format[0])

    def _classify_or_regress(self, spec, request: dict[str, Any], kind: str) -> dict[str, Any]:
        _set_signature_name(spec, request)
        if kind == "classify":
            proto = classification_pb2.ClassificationRequest(model_spec=spec)
            fill_input_from_json(request, proto.input)
            result = self.server.service.classify(proto, api="rest").result
            return {
                "result": [
                    [[c.label, c.score] for c in row.classes] for row in result.classifications
                ]
            }
        proto = regression_pb2.RegressionRequest(model_spec=spec)
        fill_input_from_json(request, proto.input)
        result = self.server.service.regress(proto, api="rest").result
        return {"result": [r.value for r in result.regressions]}


# TF Serving prints its JSON with always_print_fields_with_no_presence: a scalar's
# tensor_shape has "dim": [], every dim its "name": "", every shape "unknown_rank": false,
# every SignatureDef its "defaults": {}. protobuf < 5.26 called that option
# including_default_value_fields.
_ALWAYS_PRINT = (
    "always_print_fields_with_no_presence"
    if "always_print_fields_with_no_presence"
    in inspect.signature(json_format.MessageToDict).parameters
    else "including_default_value_fields"
)


def message_to_json(message: Any) -> dict[str, Any]:
    """``message`` as TF Serving's REST API prints it: proto field names, and every field
    without presence printed even when it holds its default (empty lists and maps, "", false,
    0)."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                      **{_ALWAYS_PRINT: True})  # fmt: skip


_INT64_MAX = (1 << 63) - 1


def _parse_version(text: str) -> int:
    """A version path segment as an int64; INVALID_ARGUMENT (TF Serving's message) if over."""
    version = int(text)
    if version > _INT64_MAX:
        raise invalid_argument(f"Failed to convert version: {text} to numeric.")
    return version


def _set_signature_name(spec: Any, request: dict[str, Any]) -> None:
    """Copies a request body's optional "signature_name" ("" = serving_default) into ``spec``;
    INVALID_ARGUMENT (with TF Serving's message) when it is not a string."""
    signature_name = request.get("signature_name", "")
    if not isinstance(signature_name, str):
        raise invalid_argument("'signature_name' key must be a string value.")
    spec.signature_name = signature_name


class ByteBudget:
    """A counting semaphore of bytes: ``acquire(n, timeout)`` waits until ``n`` fit."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._free = capacity
        self._changed = threading.Condition()

    def acquire(self, n: int, timeout: float) -> bool:
        with self._changed:
            if not self._changed.wait_for(lambda: self._free >= n, timeout=timeout):
                return False
            self._free -= n
            return True

    def release(self, n: int) -> None:
        with self._changed:
            self._free += n
            self._changed.notify_all()


def default_max_connections() -> int:
    """Half the process's file-descriptor limit (the rest is for models, gRPC and logs), at
    most 1024: enough keep-alive clients for one host, before threads pile up."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        return 1024
    if soft == resource.RLIM_INFINITY:
        return 1024
    return max(16, min(1024, soft // 2))


def _refuse(connection: socket.socket, limit: int, tls: bool) -> None:
    """A 503 in one non-blocking send (a client that does not read cannot stall the accept
    loop), then close. The body is TF Serving's error JSON. Over TLS the connection is only
    closed (a plaintext answer before the handshake would read as an SSL error anyway)."""
    body = json.dumps(
        {
            "error": f"the server has {limit} REST connections open (--rest_api_max_connections); "
            "reuse a keep-alive connection or retry with backoff"
        }
    ).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode("latin-1")
    with contextlib.suppress(OSError):
        connection.setblocking(False)
        if not tls:
            connection.send(head + body)
            connection.shutdown(socket.SHUT_WR)
            # A request already sent and left unread would make close() send a reset, which
            # can reach the client before the 503; read what has arrived first.
            connection.recv(65536)
    with contextlib.suppress(OSError):
        connection.close()


class RestServer(ThreadingHTTPServer):
    """The REST endpoint; ``port`` is the bound port (useful when started on port 0).

    Args:
        metrics_path: where Prometheus metrics are served (None: not served).
        num_threads: requests processed at once (default 4 x CPUs, as TF Serving).
        timeout_seconds: idle/read timeout of a connection and the longest wait for a slot.
        ssl_context: serve HTTPS with it (None: plain HTTP).
        max_connections: connections open at once (each holds a thread); one more is
            answered 503 and closed at once. Default 0 = default_max_connections().
    """

    daemon_threads = True  # drain() waits for requests; a stuck one must not block exit
    block_on_close = False
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        manager: ModelManager,
        service: InferenceService,
        metrics: ServerMetrics,
        max_body_bytes: int,
        *,
        metrics_path: str | None = METRICS_PATH,
        num_threads: int = 0,
        timeout_seconds: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int = 0,
    ) -> None:
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        super().__init__(address, _Handler)
        self.manager = manager
        self.service = service
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.metrics_path = metrics_path
        self.num_threads = num_threads or 4 * (os.cpu_count() or 1)
        self.slots = threading.BoundedSemaphore(self.num_threads)
        # Request bodies being read at once, by declared bytes (outside the slots).
        self.body_bytes = ByteBudget(2 * max_body_bytes)
        self.timeout_seconds = timeout_seconds
        self.ssl_context = ssl_context
        self.draining = False
        self._state = threading.Condition()
        self._connections: set[socket.socket] = set()
        self._busy: set[socket.socket] = set()  # connections inside a request
        self._read_closed: set[socket.socket] = set()
        # Connections that started at least one request; the others have not sent their
        # first one yet, and drain waits for it.
        self._served: set[socket.socket] = set()
        self._thread: threading.Thread | None = None
        self.max_connections = max_connections or default_max_connections()
        self._open = 0  # connections accepted and not yet closed (their threads)
        self.refused_connections = 0

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def scheme(self) -> str:
        return "https" if self.ssl_context is not None else "http"

    # ---------------------------------------------------------------- connections

    def process_request(self, request: Any, client_address: Any) -> None:
        """Runs in the accept loop: a connection past max_connections is refused here, before
        it costs a thread (thousands of idle connections meant thousands of threads, then
        the process ran out of file descriptors and the accept loop spun)."""
        with self._state:
            admitted = self._open < self.max_connections
            if admitted:
                self._open += 1
            else:
                self.refused_connections += 1
        if not admitted:
            _refuse(request, self.max_connections, tls=self.ssl_context is not None)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:  # no thread was started: nothing else will count it closed
            self._closed()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._closed()

    def _closed(self) -> None:
        with self._state:
            self._open -= 1
            self._state.notify_all()

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Runs in the connection's thread: TLS handshake, then the keep-alive loop."""
        connection = request
        if self.ssl_context is not None:
            request.settimeout(self.timeout_seconds)
            try:
                connection = self.ssl_context.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError) as e:  # a plain-HTTP or untrusted client
                log.debug("REST TLS handshake with %s failed: %s", client_address, e)
                return
        with self._state:
            # Even when draining: the client was accepted and may have sent its request
            # already; it is served (drain waits for it), not closed unread.
            self._connections.add(connection)
        try:
            self.RequestHandlerClass(connection, client_address, self)  # type: ignore[arg-type]
        finally:
            with self._state:
                self._connections.discard(connection)
                self._read_closed.discard(connection)
                self._served.discard(connection)
                self._state.notify_all()
            if connection is not request:
                connection.close()

    def request_started(self, connection: socket.socket) -> None:
        with self._state:
            self._busy.add(connection)
            self._served.add(connection)

    def request_finished(self, connection: socket.socket) -> None:
        with self._state:
            self._busy.discard(connection)
            self._state.notify_all()

    def in_flight(self) -> int:
        """Requests being processed right now."""
        with self._state:
            return len(self._busy)

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.serve_forever,
            name="seqline-rest",
            kwargs={"poll_interval": 0.2},
            daemon=True,
        )
        self._thread.start()

    def stop_accepting(self) -> None:
        """Stops the accept loop, takes the connections already in the listen backlog (each
        is served like any other), then closes the listening socket: from then on a new
        connection is refused."""
        with self._state:
            self.draining = True
        self.shutdown()  # the accept loop ends
        if self._thread is not None:
            self._thread.join(timeout=10)
        # Closing a listener resets the connections in its backlog; a client whose request
        # was already sent would not know whether it ran. Take them first. (One completing
        # its handshake between the last accept and the close is still reset by the kernel.)
        with contextlib.suppress(OSError):
            self.socket.setblocking(False)
            while True:
                try:
                    request, client_address = self.get_request()
                except (BlockingIOError, InterruptedError):
                    break
                request.setblocking(True)
                self.process_request(request, client_address)
        self.server_close()

    def drain(self, deadline: float) -> bool:
        """Stops accepting, closes idle keep-alive connections and waits until ``deadline``
        (time.monotonic()) for every connection to end: requests in flight finish, and one
        not sent yet on a connection accepted before the listener closed is served if it
        arrives within FIRST_REQUEST_WAIT_SECONDS (then, or at the deadline if sooner,
        connections still waiting for their first request are closed). True if no request
        was left running."""
        if not self.draining:
            self.stop_accepting()
        first = min(deadline, time.monotonic() + FIRST_REQUEST_WAIT_SECONDS)
        with self._state:
            ended = self._state.wait_for(
                lambda: self._close_idle() and not self._open,
                timeout=max(0.0, first - time.monotonic()),
            )
            if not ended:
                ended = self._state.wait_for(
                    lambda: self._close_idle(waiting_for_first_request=True) and not self._open,
                    timeout=max(0.0, deadline - time.monotonic()),
                )
            return not self._busy

    def _close_idle(self, waiting_for_first_request: bool = False) -> bool:
        """Unblocks idle keep-alive connections: their handler reads EOF (or a request that
        had already arrived, then EOF) and ends. Busy ones close themselves after their
        response (Connection: close). A connection that has not started a request yet is
        left to send it, unless ``waiting_for_first_request``. Called with _state held;
        always True (a step of drain's wait_for predicate)."""
        idle = self._connections - self._busy - self._read_closed
        if not waiting_for_first_request:
            idle &= self._served
        for connection in idle:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RD)
            self._read_closed.add(connection)
        return True

    def stop(self) -> None:
        """Stops at once (no grace): drain with a deadline of now."""
        self.drain(time.monotonic())
