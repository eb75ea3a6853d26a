"""`seqline serve` and `seqline predict`: the serving subcommands of the seqline CLI.

`register(subparsers)` adds both to the main argparse parser; each subparser sets
`func=<handler(args) -> int exit code>`, the dispatch convention of seqline.pipeline.cli.
Nothing heavy is imported here at module level (no TensorFlow, grpc or tensorflow_serving):
they load inside the handlers, so `seqline --help` stays fast, and `seqline predict --rest`
never loads TensorFlow at all. `seqline serve` takes tensorflow_model_server's own flags (from
seqline.serving.server.server_flags).

Examples:
    seqline serve --model_name imdb --model_base_path /models/imdb --rest_api_port 8501
    seqline predict --model imdb --text "a good film"
    seqline predict --model half_plus_two --signature serving_default --input '{"x": [1.0, 2.0]}'
    seqline predict --model half_plus_two --input '{"instances": [1.0, 2.0]}'
    seqline predict --model imdb --rest http://127.0.0.1:8501 --text "a bad film"

Exit codes: 0 success, 1 the server answered with an error or could not be reached, 2 a usage
error (bad flags, unreadable --input, an unnamed value for a signature with several inputs, a
value its input's declared type cannot take, such as a number for a string input, found before
sending over gRPC and REST alike).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from seqline.serving.quiet_logs import quiet_tensorflow_logs

EXIT_OK = 0
EXIT_REQUEST_FAILED = 1
EXIT_USAGE = 2
# `seqline serve`: a version aspired at start-up failed to load (no port was opened).
EXIT_LOAD_FAILED = 1

DEFAULT_TARGET = "127.0.0.1:8500"
TEXT_SIGNATURE = "predict_text"
TEXT_INPUT = "text"


class UsageError(Exception):
    """A command-line value is unusable (e.g. --input is not JSON); exit code 2."""


@dataclass(frozen=True)
class Unnamed:
    """A request value without an input name, as TF Serving's REST API takes one
    (``{"instances": [[1, 2, 3]]}``, ``{"inputs": [[1, 2, 3]]}``): it feeds the signature's
    one input, whose name `seqline predict` reads from the server's metadata."""

    value: Any


def register(subparsers: Any) -> None:
    """Adds `serve`, `predict`, `rollback` and `forecast` to an argparse subparsers object."""
    # seqline.serving.server.server_flags imports neither grpc nor TensorFlow at module level.
    from seqline.serving.server.server_flags import add_server_arguments

    serve = subparsers.add_parser(
        "serve",
        help="run a TensorFlow Serving-compatible model server (gRPC + REST)",
        description="Serve SavedModels with TensorFlow Serving's gRPC and REST APIs, using "
        "tensorflow_model_server's flags.",
    )
    add_server_arguments(serve)
    serve.add_argument(
        "--stop_when_stdin_closes",
        action="store_true",
        help="exit at once when standard input reaches its end (not a TF Serving flag): a "
        "parent that starts the server with a pipe as its stdin and keeps the other end open "
        "makes the server end with it, however the parent ends (infra_validate's child)",
    )
    serve.add_argument(
        "--parent_pid",
        type=int,
        default=None,
        metavar="PID",
        help="end with process PID, the one that started the server (not a TF Serving flag): "
        "on Linux the kernel sends the server SIGKILL when that process ends "
        "(PR_SET_PDEATHSIG, asked for at start-up), and the server exits at once if its "
        "parent is no longer PID when it starts (the parent ended before the request)",
    )
    serve.set_defaults(func=run_serve)

    predict = subparsers.add_parser(
        "predict",
        help="send one Predict request to a model server and print the outputs as JSON",
        description="Send a Predict request over gRPC (or REST with --rest) and print "
        '{"model", "version", "signature", "outputs"} as JSON.',
    )
    add_predict_arguments(predict)
    predict.set_defaults(func=run_predict)

    # `seqline rollback`: a TF Serving config operation, so it lives in serving/ (cheap import).
    from seqline.serving.deploy.rollback import register as register_rollback

    register_rollback(subparsers)

    # `seqline forecast`: N-step (recursive) forecasts from a series model; cheap import too.
    from seqline.serving.client.forecast_cli import register as register_forecast

    register_forecast(subparsers)


def add_predict_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of `seqline predict`."""
    parser.add_argument("--model", required=True, help="model name on the server")
    parser.add_argument(
        "--target",
        default=DEFAULT_TARGET,
        help=f"gRPC host:port of the server (default {DEFAULT_TARGET})",
    )
    parser.add_argument(
        "--rest",
        metavar="URL",
        help="use the REST API at this base URL (e.g. http://127.0.0.1:8501) instead of gRPC",
    )
    parser.add_argument(
        "--signature",
        help=f"signature name (default '{TEXT_SIGNATURE}' with --text, else the request's "
        "'signature_name' or 'serving_default')",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--text",
        action="append",
        help=f"a text to classify; repeat for a batch (sends {{'{TEXT_INPUT}': [TEXT, ...]}})",
    )
    source.add_argument(
        "--input",
        metavar="JSON|@FILE",
        help='request inputs as JSON, inline or @path: {"name": value}, TF Serving\'s '
        '{"inputs": {...}} or {"instances": [{...}, ...]}, or unnamed {"instances": [...]} / '
        '{"inputs": [...]} for a signature with one input; bytes as {"b64": "..."}',
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--version", type=int, help="model version (default: latest)")
    which.add_argument("--label", help="model version label, e.g. stable")
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="deadline in seconds (default 10)"
    )


# -- predict ---------------------------------------------------------------------------------


def run_predict(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    """Handler of `seqline predict`: prints the outputs as one JSON document to `out` (stdout).

    Returns an exit code; errors go to stderr as one line with the status code and message.
    """
    out = out or sys.stdout
    try:
        inputs, signature = build_request(args)
        if args.timeout <= 0:
            raise UsageError(f"--timeout: expected seconds > 0, got {args.timeout}")
    except UsageError as exc:
        print(f"seqline predict: error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    from seqline.serving.errors import ServingError
    from seqline.serving.request_inputs import InputError

    try:
        result = _send(args, inputs, signature)
    except (UsageError, InputError) as exc:
        # An unnamed value for a signature with several inputs; a value the input's declared
        # type cannot take (a number for a string input), found before sending.
        print(f"seqline predict: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ServingError as exc:
        print(f"seqline predict: error: {exc}", file=sys.stderr)
        return EXIT_REQUEST_FAILED
    json.dump(result, out, indent=2)
    out.write("\n")
    return EXIT_OK


def build_request(args: argparse.Namespace) -> tuple[dict[str, Any] | Unnamed, str]:
    """(inputs, signature name) from --text/--input and --signature.

    The inputs are {name: value}, or Unnamed(value) for TF Serving's unnamed bodies
    ({"instances": [plain values]}, {"inputs": value}), named later from the server's
    metadata (name_unnamed_input).

    Raises:
        UsageError: --input is not valid JSON, an unreadable @file, or not a request shape.
    """
    if args.text is not None:
        return {TEXT_INPUT: [_argv_text(t) for t in args.text]}, args.signature or TEXT_SIGNATURE
    body = _load_json(args.input)
    signature = args.signature or body.pop("signature_name", None) or "serving_default"
    if "inputs" in body:
        inputs = body["inputs"]
        if not _is_named(inputs):
            return Unnamed(decode_b64(inputs)), signature
    elif "instances" in body:
        instances = body["instances"]
        if not isinstance(instances, list) or not instances:
            raise UsageError('--input: expected "instances" to be a non-empty list')
        if not any(_is_named(row) for row in instances):
            return Unnamed(decode_b64(instances)), signature
        inputs = _columns_from_instances(instances)
    else:
        inputs = body
    if not inputs:
        raise UsageError("--input: expected at least one named input, got {}")
    return {name: decode_b64(value) for name, value in inputs.items()}, signature


def _argv_text(text: str) -> str | bytes:
    """A --text value as sent: the str, or, when it is not valid Unicode (bytes of another
    encoding than the locale's, which Python keeps as lone surrogates), the bytes the user
    typed (os.fsencode): the model's own standardization then meets them as any raw input."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(text)
    return text


def _is_named(value: Any) -> bool:
    """An object of named inputs (a {"b64": ...} object is a value)."""
    return isinstance(value, dict) and set(value) != {"b64"}


def name_unnamed_input(client: Any, unnamed: Unnamed, signature: str) -> dict[str, Any]:
    """{input name: value}: the signature's one input (or its one input without a default),
    read from ``client.metadata()`` (a PredictionClient or RestClient).

    Raises:
        UsageError: the signature is not on the server, or it has several inputs that need
            a value.
        ServingError: the metadata call failed.
    """
    meta = client.metadata()
    info = meta.signatures.get(signature)
    if info is None:
        runnable = sorted(name for name in meta.signatures if not name.startswith("__"))
        raise UsageError(
            f"--input: signature '{signature}' is not one of model '{meta.model_name}' version "
            f"{meta.version}'s {runnable}; pass --signature"
        )
    names = sorted(info.inputs)
    required = [name for name in names if name not in info.defaults]
    if len(names) == 1 or len(required) == 1:
        return {(names if len(names) == 1 else required)[0]: unnamed.value}
    example = ", ".join(f'"{name}": ...' for name in (required or names))
    raise UsageError(
        f"--input: an unnamed value needs a signature with one input, and signature "
        f"'{signature}' has {len(names)}: {names}; name them: "
        f'{{"inputs": {{{example}}}}} or {{"instances": [{{{example}}}, ...]}}'
    )


def _load_json(text: str) -> dict[str, Any]:
    source = "--input"
    if text.startswith("@"):
        source = text[1:]
        try:
            with open(source, encoding="utf-8") as f:
                text = f.read()
        except OSError as exc:
            raise UsageError(f"--input: cannot read {source}: {exc.strerror}") from exc
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{source}: expected JSON such as '{{\"x\": [1.0, 2.0]}}', got invalid JSON "
            f"({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from exc
    if not isinstance(body, dict):
        raise UsageError(
            f'{source}: expected a JSON object of named inputs ({{"x": [1.0]}}), '
            f"got a {type(body).__name__}"
        )
    return body


def _columns_from_instances(instances: list[Any]) -> dict[str, list[Any]]:
    """Named rows -> columns."""
    if not all(_is_named(row) for row in instances):
        raise UsageError(
            '--input: expected "instances" to be all objects of named inputs '
            '([{"x": 1.0}, {"x": 2.0}]) or all values ([1.0, 2.0]), not a mix'
        )
    names = list(instances[0])
    columns: dict[str, list[Any]] = {name: [] for name in names}
    for i, row in enumerate(instances):
        if sorted(row) != sorted(names):
            raise UsageError(
                f"--input: instance {i} has inputs {sorted(row)}, instance 0 has {sorted(names)}"
            )
        for name in names:
            columns[name].append(row[name])
    return columns


def decode_b64(value: Any) -> Any:
    """Nested JSON with {"b64": "..."} leaves -> the same with bytes leaves."""
    if isinstance(value, list):
        return [decode_b64(v) for v in value]
    if isinstance(value, dict) and set(value) == {"b64"}:
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (ValueError, TypeError) as exc:
            raise UsageError(f"--input: cannot base64-decode {str(value)[:40]}: {exc}") from exc
    return value


def _send(
    args: argparse.Namespace, inputs: dict[str, Any] | Unnamed, signature: str
) -> dict[str, Any]:
    common = {"version": args.version, "version_label": args.label, "timeout": args.timeout}
    if args.rest:
        from seqline.serving.client.rest_client import RestClient

        client = RestClient(args.rest, args.model, signature_name=signature, **common)
        if isinstance(inputs, Unnamed):
            inputs = name_unnamed_input(client, inputs, signature)
        outputs = client.predict(inputs)
        version = args.version  # TF Serving's REST :predict does not say which version answered
    else:
        from seqline.serving.client.client import PredictionClient, decode_outputs

        with PredictionClient(args.target, args.model, signature_name=signature, **common) as c:
            if isinstance(inputs, Unnamed):
                inputs = name_unnamed_input(c, inputs, signature)
            response = c.predict_response(inputs)
        outputs = decode_outputs(response)
        spec = response.model_spec
        version = spec.version.value if spec.HasField("version") else args.version
    return {
        "model": args.model,
        "version": version,
        "signature": signature,
        "outputs": {name: to_json(array) for name, array in sorted(outputs.items())},
    }


def to_json(array: Any) -> Any:
    """A numpy output as JSON: nested lists; float32 in its shortest round-trip form; bytes as
    UTF-8 text, or {"b64": ...} when not UTF-8."""
    import numpy as np

    array = np.asarray(array)
    if array.dtype == object or array.dtype.kind == "S":
        return _map_nested(array.tolist(), _bytes_to_json)
    if array.dtype in (np.float32, np.float16):
        # float(str(x)) keeps "0.1" instead of float32's "0.10000000149011612".
        to_float = array.dtype.type
        return _map_nested(array.tolist(), lambda v: float(str(to_float(v))))
    return array.tolist()


def _map_nested(value: Any, fn: Any) -> Any:
    if isinstance(value, list):
        return [_map_nested(v, fn) for v in value]
    return fn(value)


def _bytes_to_json(value: Any) -> Any:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"b64": base64.b64encode(value).decode("ascii")}
    return value


# -- serve -----------------------------------------------------------------------------------


def run_serve(args: argparse.Namespace, *, stop: threading.Event | None = None) -> int:
    """Handler of `seqline serve`: loads the models, opens the ports, serves until
    SIGINT/SIGTERM (or until `stop` is set, for callers running it in a thread), then drains
    in-flight requests for up to --shutdown_grace_seconds. Returns an exit code (2 for an
    invalid server config, 1 when a version aspired at start-up fails to load)."""
    if getattr(args, "parent_pid", None) is not None:
        die_with_parent(args.parent_pid)  # first: the parent may already be gone
    if getattr(args, "stop_when_stdin_closes", False):
        exit_when_stdin_closes()
    from seqline.serving.errors import InitialLoadError, ServerConfigError
    from seqline.serving.server.server_flags import options_from_args

    if not logging.getLogger().handlers:  # a serving host: loads, warnings, drain on stderr
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # The flags first, without TensorFlow: a usage error is then reported in a fraction of a
    # second, not after the 3-5 s TensorFlow import.
    try:
        options = options_from_args(args)
        _check_config_file_exists(options.model_config_file)
    except ServerConfigError as exc:
        print(f"seqline serve: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from seqline.serving.garbage_collection import collect_less_often
    from seqline.serving.grpc_experiments import prefer_low_latency_grpc

    try:
        collect_less_often()  # before TensorFlow's import and the models' load allocate
    except ValueError as exc:  # a wrong $SEQLINE_GC_THRESHOLDS
        print(f"seqline serve: error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    # Before grpc loads: accepted connections are then polled by gRPC's own Python thread.
    prefer_low_latency_grpc()
    from seqline.serving.tensorflow_import import import_tensorflow_for_serving

    # A server runs signatures, never Keras: skip TensorFlow's eager Keras import (~1.5 s).
    import_tensorflow_for_serving()
    from seqline.serving.server.server import start_server

    try:
        handle = start_server(options)
    except InitialLoadError as exc:  # a model that does not load: not a usage error
        print(f"seqline serve: error: {exc}", file=sys.stderr)
        return EXIT_LOAD_FAILED
    except ServerConfigError as exc:
        print(f"seqline serve: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    stop = stop or threading.Event()
    restore = _stop_on_signals(stop)
    try:
        rest = f", REST at {handle.rest_url}" if handle.rest_url else ""
        tls = " (TLS)" if handle.tls else ""
        print(f"seqline serve: gRPC at {handle.grpc_target}{rest}{tls}; Ctrl-C stops", flush=True)
        # In slices: Python runs a signal handler in the main thread between bytecodes, and
        # an untimed wait may block it; a pending SIGTERM is handled within 0.5 s.
        while not stop.wait(0.5):
            pass
        print(f"seqline serve: stopping; draining requests for up to {handle.grace:g} s",
              flush=True)  # fmt: skip
    finally:
        restore()
        drained = handle.stop()
    print(f"seqline serve: stopped{'' if drained else ' (some requests were cut)'}", flush=True)
    return EXIT_OK


def _check_config_file_exists(path: str | None) -> None:
    """ServerConfigError for a local --model_config_file that does not exist (checked before
    TensorFlow is imported; a remote one is read, and checked, by start_server)."""
    from seqline.serving.errors import ServerConfigError
    from seqline.storage.filesystem import is_remote, local_path

    if path and not is_remote(path) and not os.path.isfile(local_path(path)):
        raise ServerConfigError(
            f"model_config_file: expected a ModelServerConfig text file at {path!r}, found no "
            "such file; check the path (push writes {serving_root}/models.config)"
        )


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent_pid: int) -> None:
    """Ends this process with its parent `parent_pid` (`seqline serve --parent_pid`). On Linux
    asks the kernel to send SIGKILL when the parent ends (PR_SET_PDEATHSIG, which the kernel
    ties to the parent's thread that started us: a parent with short-lived threads starts us
    from one that lives as long as it does). Then, everywhere, exits at once (os._exit(0)) if
    the parent is no longer `parent_pid`: it ended before the request took effect and we
    were adopted by another process.

    Done here, after exec, rather than by the parent between fork and exec (subprocess's
    preexec_fn): that is unsafe in a parent with threads (TensorFlow's, gRPC's, Beam's) and
    makes subprocess fork the whole parent instead of using vfork."""
    if sys.platform.startswith("linux"):
        import ctypes  # noqa: PLC0415

        with contextlib.suppress(OSError, AttributeError):
            prctl = ctypes.CDLL(None, use_errno=True).prctl
            prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
            prctl.restype = ctypes.c_int
            prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:
        with contextlib.suppress(OSError, ValueError):  # stderr may be gone with the parent
            print(
                f"seqline serve: the parent process {parent_pid} has ended; exiting",
                file=sys.stderr,
                flush=True,
            )
        os._exit(EXIT_OK)


def exit_when_stdin_closes() -> threading.Thread:
    """Starts a daemon thread that ends the process at once (os._exit(0), no drain) when
    standard input reaches end-of-file. A parent keeping the write end of a pipe to our stdin
    makes us end with it however it ends, kill -9 included: the kernel closes its end then
    (`seqline serve --stop_when_stdin_closes`; anything read is ignored)."""

    def watch() -> None:
        with contextlib.suppress(OSError):
            while os.read(0, 65536):
                pass
        with contextlib.suppress(OSError, ValueError):  # stderr may be gone with the parent
            print(
                "seqline serve: standard input closed (the parent process ended); exiting",
                file=sys.stderr,
                flush=True,
            )
        os._exit(EXIT_OK)

    watcher = threading.Thread(target=watch, name="stdin-watch", daemon=True)
    watcher.start()
    return watcher


def _stop_on_signals(stop: threading.Event) -> Any:
    """Sets `stop` on SIGINT/SIGTERM; returns a function restoring the old handlers."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # signal handlers can only be installed from the main thread
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


# -- standalone entry point ------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m seqline.serving.cli {serve,predict} ...`: the two commands without the rest
    of the seqline CLI (e.g. on a serving host)."""
    quiet_tensorflow_logs()  # before anything imports TensorFlow (SEQLINE_LOG_LEVEL=debug: off)
    parser = argparse.ArgumentParser(prog="seqline", description="seqline serving commands")
    subparsers = parser.add_subparsers(dest="command", required=True)
    register(subparsers)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
