"""TLS for the gRPC and REST ports from one SSLConfig (``--ssl_config_file``).

gRPC gets ``grpc.ssl_server_credentials`` exactly as tensorflow_model_server builds its
credentials (key/certificate pair, ``custom_ca`` as the roots that verify clients,
``client_verify`` requiring a client certificate). REST gets an ``ssl.SSLContext`` with the
same key, certificate and client verification (TF Serving's REST port has no TLS; seqline's
does, so one file secures both). TLS 1.2 is the minimum.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from typing import Any

from seqline.serving.errors import ServerConfigError
from seqline.serving.server.server_config_files import SslConfig


def grpc_server_credentials(config: SslConfig) -> Any:
    """grpc.ServerCredentials for ``config``."""
    import grpc

    return grpc.ssl_server_credentials(
        [(config.server_key.encode(), config.server_cert.encode())],
        root_certificates=config.custom_ca.encode() if config.custom_ca else None,
        require_client_auth=config.client_verify,
    )


def rest_ssl_context(config: SslConfig) -> ssl.SSLContext:
    """A server-side SSLContext for ``config``; ServerConfigError if the PEMs do not load."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # load_cert_chain reads files only: write the PEMs to a private directory for the call.
    with tempfile.TemporaryDirectory(prefix="seqline-tls-") as directory:
        cert_path = os.path.join(directory, "cert.pem")
        key_path = os.path.join(directory, "key.pem")
        for path, text in ((cert_path, config.server_cert), (key_path, config.server_key)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
        try:
            context.load_cert_chain(cert_path, key_path)
        except ssl.SSLError as e:
            raise ServerConfigError(
                f"--ssl_config_file: server_key / server_cert do not load ({e.reason or e}); "
                "expected a PEM private key and the PEM certificate that matches it"
            ) from e
    if config.custom_ca:
        try:
            context.load_verify_locations(cadata=config.custom_ca)
        except ssl.SSLError as e:
            raise ServerConfigError(f"--ssl_config_file: custom_ca does not load ({e})") from e
    if config.client_verify:
        context.verify_mode = ssl.CERT_REQUIRED
    return context
