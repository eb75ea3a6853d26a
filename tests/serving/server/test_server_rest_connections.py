"""REST connections under hostile clients: bodies trickled byte by byte do not hold the
processing slots and are cut at one deadline for the whole body; Content-Length is one plain
decimal; what http.server answers by itself is JSON like every other error."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from tests.serving.conftest import serve_hpt

TIMEOUT_MS = 1500
TRICKLE_EVERY = 0.4  # seconds between bytes: under the per-read timeout, so reads never idle


@pytest.fixture(scope="module")
def server(tmp_path_factory, half_plus_two_model):
    handle = serve_hpt(
        tmp_path_factory.mktemp("rest_connections"),
        half_plus_two_model,
        rest_api_num_threads=2,
        rest_api_timeout_in_ms=TIMEOUT_MS,
    )
    yield handle
    handle.stop()


def _request_head(port: int, length: str | list[str], method: str = "POST") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    lengths = [length] if isinstance(length, str) else length
    head = f"{method} /v1/models/hpt:predict HTTP/1.1\r\nHost: x\r\n"
    head += "".join(f"Content-Length: {value}\r\n" for value in lengths)
    sock.sendall(head.encode() + b"\r\n")
    return sock


def _response(sock: socket.socket) -> tuple[int, dict]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length")))  # fmt: skip
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split()[1]), json.loads(body)


class Trickler(threading.Thread):
    """A client sending its declared 100-byte body one byte every TRICKLE_EVERY seconds."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.sock = _request_head(port, "100")
        self.stop = threading.Event()
        self.answer: tuple[int, dict] | None = None

    def run(self) -> None:
        try:
            while not self.stop.wait(TRICKLE_EVERY):
                self.sock.sendall(b" ")
        except OSError:  # the server closed the connection: read its answer
            pass

    def read_answer(self) -> tuple[int, dict]:
        self.sock.settimeout(10 * TIMEOUT_MS / 1000)
        return _response(self.sock)


def test_trickled_bodies_do_not_lock_out_other_clients_and_are_cut_at_the_deadline(server):
    trickling = [Trickler(server.rest_port) for _ in range(2)]  # as many as the slots
    for client in trickling:
        client.start()
    url = f"http://127.0.0.1:{server.rest_port}/v1/models/hpt"
    try:
        # While both trickle, other requests are still served: the slots only cover the work.
        with urllib.request.urlopen(url, timeout=30) as response:
            assert response.status == 200
        request = urllib.request.Request(
            url + ":predict", data=b'{"instances": [2.0]}', method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert json.loads(response.read()) == {"predictions": [3.0]}
        # Each trickling client gets 504 once the whole-body deadline passes, though no
        # single read ever waited as long as the timeout.
        for client in trickling:
            status, body = client.read_answer()
            assert status == 504
            assert "did not arrive within 1.5 s" in body["error"]
    finally:
        for client in trickling:
            client.stop.set()
            client.sock.close()


@pytest.mark.parametrize("lengths", [["1_9"], ["+19"], ["19", "20"], ["-1"], ["x"]])
def test_content_length_must_be_one_plain_decimal(server, lengths):
    sock = _request_head(server.rest_port, lengths)
    with sock:
        status, body = _response(sock)
    assert status == 400 and "Content-Length must be one non-negative decimal" in body["error"]


def test_errors_http_server_answers_itself_are_json(server):
    for method in ("PUT", "DELETE", "PATCH"):
        sock = _request_head(server.rest_port, "0", method=method)
        with sock:
            status, body = _response(sock)
        assert status == 501 and "Unsupported method" in body["error"], (method, body)
    with socket.create_connection(("127.0.0.1", server.rest_port), timeout=30) as sock:
        sock.sendall(b"GARBAGE\r\n\r\n")
        status, body = _response(sock)
    assert status == 400 and body["error"]


@pytest.mark.parametrize(
    "path, body",
    [
        (":predict", b'{"signature_name": "\\ud800", "instances": [1.0]}'),
        (":classify", b'{"examples": [{"\\udc00x": 1.0}]}'),
    ],
)
def test_a_lone_surrogate_in_a_json_string_is_a_bad_request(server, path, body):
    """Python's JSON parser accepts "\\ud800", but no request field can hold it as UTF-8; it
    was a 500 with the exception's text (and a logged traceback per request)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.rest_port}/v1/models/hpt{path}", data=body, method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=30)
    assert error.value.code == 400
    assert "is a lone surrogate" in json.loads(error.value.read())["error"]


def _get_status(sock: socket.socket) -> tuple[int, dict]:
    sock.sendall(b"GET /v1/models/hpt HTTP/1.1\r\nHost: x\r\n\r\n")
    return _response(sock)


def test_connections_past_the_cap_are_refused_at_once_and_admitted_again_when_one_closes(
    tmp_path, half_plus_two_model
):
    """Each open connection held a thread with no cap: thousands of idle clients meant
    thousands of threads, then no file descriptor left and an accept loop spinning."""
    handle = serve_hpt(tmp_path, half_plus_two_model, rest_api_max_connections=2)
    try:
        port = handle.rest_port
        held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(2)]
        for sock in held:  # answered, so accepted and counted
            assert _get_status(sock)[0] == 200
        extra = socket.create_connection(("127.0.0.1", port), timeout=10)
        status, body = _response(extra)  # answered before the client sends anything
        assert status == 503 and "--rest_api_max_connections" in body["error"]
        assert extra.recv(1) == b""  # and closed
        assert _get_status(held[0])[0] == 200  # the admitted ones are still served
        held.pop().close()
        deadline = time.monotonic() + 10
        while True:  # the server notices the close on its own schedule
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            try:
                status = _get_status(sock)[0]
            except (OSError, json.JSONDecodeError, StopIteration):
                status = 0
            sock.close()
            if status == 200 or time.monotonic() > deadline:
                break
        assert status == 200
        for sock in held:
            sock.close()
    finally:
        handle.stop()
