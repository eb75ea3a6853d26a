"""Fixtures for serving tests: tiny SavedModels and an in-process model server.

Reusable by every tests/serving/ module (server and client tests alike):

- ``half_plus_two_model`` (session): path of a SavedModel in the style of TF Serving's
  ``saved_model_half_plus_two``: y = 0.5 * x + 2. Signatures:
    * ``serving_default`` / ``predict`` (method predict): ``x`` float32 [None] -> ``y`` float32
      [None].
    * ``classify_x_to_y`` (method classify): ``inputs`` serialized tf.Example [None] with float
      feature "x" -> ``scores`` float32 [None, 1] (= y), ``classes`` string [None, 1]
      ("positive" if y > 2.5 else "negative").
    * ``regress_x_to_y`` (method regress): ``inputs`` serialized tf.Example [None] with float
      feature "x" -> ``outputs`` float32 [None] (= y).
- ``text_model`` (session): path of a tiny text classifier with the seqline Model signatures:
  ``serving_default`` takes ``examples`` (serialized tf.Example with bytes feature "text"),
  ``predict_text`` takes ``text`` tf.string [None]; both return ``probabilities`` float32
  [None, 2], ``class_ids`` int64 [None], ``classes`` string [None] (labels "negative",
  "positive"; positive probability = sigmoid(#"good" - #"bad")).
- ``half_plus_three_model`` (session): the same with y = 0.5 * x + 3 (a distinguishable v2).
- ``counting_model`` (session): ``serving_default`` x float32 [None] -> y = 2x and ``calls``
  int64 [None] = how many times the signature ran since load (observes batching, warmup).
- ``defaults_model`` (session): ``serving_default`` takes ``x`` float32 [None] and ``scale``
  float32 [] (a scalar) -> ``y`` = x * scale float32 [None]; ``scale`` has a SignatureDef
  default of 10.0 (tf.function records a default argument so), so a request may omit it.
- ``build_gated_model(export_dir, gate_dir)``: ``serving_default`` x float32 [None] -> y = 2x
  that first writes ``{gate_dir}/entered-{int(x[0])}`` and then waits inside the graph until
  ``{gate_dir}/release`` exists: a request the test holds in flight as long as it wants, even
  in a server subprocess.
- ``self_signed_pem(tmp_path)``: (key PEM, certificate PEM) for 127.0.0.1 / localhost.
- ``make_half_plus_two(export_dir, scale=0.5, offset=2.0)`` / ``make_text_model(export_dir)``:
  builders for new models (e.g. a version 2 with other numbers). ~1 s each: prefer copying.
- ``copy_version(source_model, base_path, version)``: publishes a new version atomically.
- ``model_base_path(tmp_path)``: factory ``(source_model, name="model", versions=(1,)) -> str``
  that copies a built SavedModel into ``{tmp}/{name}/{version}/`` and returns the base path.
- ``start_server``: factory ``(**ServerOptions fields) -> handle`` starting
  ``seqline.serving.server.server.start_server`` on 127.0.0.1 with free ports (port=0 and
  rest_api_port=FREE_PORT unless given; rest_api_port=0 turns REST off as in TF Serving) and
  stopping it at teardown. The handle has ``.grpc_port``,
  ``.rest_port``, ``.grpc_target`` ("127.0.0.1:PORT"), ``.wait_until_available(name, version,
  timeout)``, ``.wait_until_ready(timeout)`` and ``.stop()``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest

HALF_PLUS_TWO_SCALE = 0.5
HALF_PLUS_TWO_OFFSET = 2.0
TEXT_LABELS = ("negative", "positive")

CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"


def _set_method_names(export_dir: str, method_names: dict[str, str]) -> None:
    """Rewrites signature method names in ``export_dir/saved_model.pb``.

    tf.saved_model.save always writes method_name "tensorflow/serving/predict"; TF Serving's
    Classify/Regress APIs require the classify/regress method names that TF1's builder (which
    produced the real half_plus_two) wrote. The TF2 loader ignores method_name, so this only
    changes what a server sees.
    """
    from tensorflow.core.protobuf import saved_model_pb2

    path = os.path.join(export_dir, "saved_model.pb")
    saved_model = saved_model_pb2.SavedModel()
    with open(path, "rb") as f:
        saved_model.ParseFromString(f.read())
    for meta_graph in saved_model.meta_graphs:
        for key, method in method_names.items():
            meta_graph.signature_def[key].method_name = method
    with open(path, "wb") as f:
        f.write(saved_model.SerializeToString())


def build_half_plus_two(
    export_dir: str, scale: float = HALF_PLUS_TWO_SCALE, offset: float = HALF_PLUS_TWO_OFFSET
) -> str:
    """Saves a half_plus_two-style SavedModel (y = scale * x + offset) at ``export_dir``.

    See the module docstring for its signatures. Returns ``export_dir``.
    """
    import tensorflow as tf

    class HalfPlusTwo(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = tf.Variable(scale, dtype=tf.float32)
            self.offset = tf.Variable(offset, dtype=tf.float32)

        def _y(self, x: tf.Tensor) -> tf.Tensor:
            return self.scale * x + self.offset

        def _parse_x(self, serialized: tf.Tensor) -> tf.Tensor:
            features = tf.io.parse_example(
                serialized, {"x": tf.io.FixedLenFeature([], tf.float32, default_value=0.0)}
            )
            return features["x"]

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def predict(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"y": self._y(x)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def classify(self, inputs: tf.Tensor) -> dict[str, tf.Tensor]:
            y = self._y(self._parse_x(inputs))
            classes = tf.where(y > offset + 0.5, "positive", "negative")
            return {"scores": tf.expand_dims(y, -1), "classes": tf.expand_dims(classes, -1)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def regress(self, inputs: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"outputs": self._y(self._parse_x(inputs))}

    module = HalfPlusTwo()
    tf.saved_model.save(
        module,
        export_dir,
        signatures={
            "serving_default": module.predict.get_concrete_function(),
            "predict": module.predict.get_concrete_function(),
            "classify_x_to_y": module.classify.get_concrete_function(),
            "regress_x_to_y": module.regress.get_concrete_function(),
        },
    )
    _set_method_names(
        export_dir, {"classify_x_to_y": CLASSIFY_METHOD, "regress_x_to_y": REGRESS_METHOD}
    )
    return export_dir


def build_text_model(export_dir: str, labels: tuple[str, str] = TEXT_LABELS) -> str:
    """Saves a tiny binary text classifier with seqline's Model signatures at ``export_dir``.

    Positive probability p = sigmoid(weight * (#"good" - #"bad") + bias), weight 1, bias 0;
    probabilities = [1 - p, p]. Returns ``export_dir``.
    """
    import tensorflow as tf

    class TextModel(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = tf.Variable(1.0)
            self.bias = tf.Variable(0.0)
            self.labels = tf.constant(list(labels))

        def _score(self, text: tf.Tensor) -> dict[str, tf.Tensor]:
            tokens = tf.strings.split(tf.strings.lower(text))
            good = tf.reduce_sum(tf.cast(tokens == "good", tf.float32), axis=-1)
            bad = tf.reduce_sum(tf.cast(tokens == "bad", tf.float32), axis=-1)
            p = tf.sigmoid(self.weight * (good - bad) + self.bias)
            probabilities = tf.stack([1.0 - p, p], axis=-1)
            class_ids = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
            return {
                "probabilities": probabilities,
                "class_ids": class_ids,
                "classes": tf.gather(self.labels, class_ids),
            }

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def predict_text(self, text: tf.Tensor) -> dict[str, tf.Tensor]:
            return self._score(text)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serving_default(self, examples: tf.Tensor) -> dict[str, tf.Tensor]:
            features = tf.io.parse_example(
                examples, {"text": tf.io.FixedLenFeature([], tf.string, default_value="")}
            )
            return self._score(features["text"])

    module = TextModel()
    tf.saved_model.save(
        module,
        export_dir,
        signatures={
            "serving_default": module.serving_default.get_concrete_function(),
            "predict_text": module.predict_text.get_concrete_function(),
        },
    )
    return export_dir


def build_counting_model(export_dir: str) -> str:
    """Saves a model that counts its own graph runs: the way to observe batching and warmup.

    ``serving_default``: ``x`` float32 [None] -> ``y`` = 2 * x float32 [None] and ``calls``
    int64 [None] (every row holds the number of times the signature has run, this run
    included, since the version was loaded). Returns ``export_dir``.
    """
    import tensorflow as tf

    class Counting(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.count = tf.Variable(0, dtype=tf.int64)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def predict(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
            calls = self.count.assign_add(1)
            return {"y": 2.0 * x, "calls": tf.fill(tf.shape(x, out_type=tf.int64), calls)}

    module = Counting()
    tf.saved_model.save(
        module, export_dir, signatures={"serving_default": module.predict.get_concrete_function()}
    )
    return export_dir


def build_defaults_model(export_dir: str) -> str:
    """Saves the model with a defaulted input described in the module docstring."""
    import tensorflow as tf

    class WithDefaults(tf.Module):
        @tf.function(
            input_signature=[tf.TensorSpec([None], tf.float32), tf.TensorSpec([], tf.float32)]
        )
        # A tensor default is what tf.function records as the SignatureDef default.
        def predict(self, x: tf.Tensor, scale: tf.Tensor = tf.constant(10.0)) -> dict:  # noqa: B008
            return {"y": x * scale}

    module = WithDefaults()
    # The tf.function itself, not a concrete function: only it records the default.
    tf.saved_model.save(module, export_dir, signatures={"serving_default": module.predict})
    return export_dir


def build_gated_model(export_dir: str, gate_dir: str) -> str:
    """Saves the gated model described in the module docstring. Returns ``export_dir``."""
    import tensorflow as tf

    entered_prefix = os.path.join(gate_dir, "entered-")
    release = os.path.join(gate_dir, "release")

    class Gated(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def predict(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
            marker = tf.strings.join(
                [entered_prefix, tf.strings.as_string(tf.cast(x[0], tf.int64))]
            )
            with tf.control_dependencies([tf.io.write_file(marker, "")]):
                start = tf.constant(0)

            def closed(i: tf.Tensor) -> tf.Tensor:
                # The pattern depends on the loop variable, so no optimizer hoists the check.
                pattern = tf.strings.join(
                    [release, tf.strings.substr(tf.strings.as_string(i), 0, 0)]
                )
                return tf.equal(tf.size(tf.io.matching_files(pattern)), 0)

            (waited,) = tf.while_loop(closed, lambda i: i + 1, [start])
            with tf.control_dependencies([waited]):
                return {"y": 2.0 * x}

    module = Gated()
    tf.saved_model.save(
        module, export_dir, signatures={"serving_default": module.predict.get_concrete_function()}
    )
    return export_dir


def self_signed_pem(common_name: str = "localhost") -> tuple[str, str]:
    """(private key PEM, self-signed certificate PEM) valid for localhost and 127.0.0.1; a CA
    certificate too, so it can verify itself as a client certificate."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return key_pem, certificate.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="session")
def half_plus_two_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A built half_plus_two SavedModel directory (read-only: copy it, never write into it)."""
    return build_half_plus_two(str(tmp_path_factory.mktemp("half_plus_two") / "model"))


@pytest.fixture(scope="session")
def half_plus_three_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Like half_plus_two_model but y = 0.5 * x + 3: a distinguishable "next version"."""
    return build_half_plus_two(
        str(tmp_path_factory.mktemp("half_plus_three") / "model"), offset=3.0
    )


@pytest.fixture(scope="session")
def text_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A built tiny text classifier SavedModel directory (read-only)."""
    return build_text_model(str(tmp_path_factory.mktemp("text_model") / "model"))


@pytest.fixture(scope="session")
def counting_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A built counting model directory (read-only; see build_counting_model)."""
    return build_counting_model(str(tmp_path_factory.mktemp("counting") / "model"))


@pytest.fixture(scope="session")
def defaults_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A built model whose ``scale`` input has a SignatureDef default (read-only)."""
    return build_defaults_model(str(tmp_path_factory.mktemp("defaults") / "model"))


@pytest.fixture
def make_half_plus_two() -> Callable[..., str]:
    """The builder ``build_half_plus_two(export_dir, scale=0.5, offset=2.0) -> export_dir``."""
    return build_half_plus_two


@pytest.fixture
def make_text_model() -> Callable[..., str]:
    """The builder ``build_text_model(export_dir, labels=("negative", "positive"))``."""
    return build_text_model


def copy_version(source_model: str, base_path: str, version: int) -> str:
    """Copies a SavedModel dir to ``{base_path}/{version}`` atomically (temp dir, rename).

    A server polling ``base_path`` never sees a half-copied version. Returns the version dir.
    """
    final = os.path.join(base_path, str(version))
    temp = os.path.join(base_path, f".tmp-{version}")
    shutil.copytree(source_model, temp)
    os.rename(temp, final)
    return final


def serve_hpt(root: Any, model_dir: str, **fields: Any) -> Any:
    """A started in-process server (ServerHandle, ready) serving `model_dir` as model "hpt"
    version 1 from `{root}/hpt`, gRPC and REST on free 127.0.0.1 ports, with the given
    ServerOptions fields (limits, REST threads...). The caller stops it; for module-scoped
    fixtures, where the function-scoped `start_server` does not fit."""
    from seqline.serving.server.server import FREE_PORT, ServerOptions
    from seqline.serving.server.server import start_server as start

    shutil.copytree(model_dir, os.path.join(str(root), "hpt", "1"))
    options = ServerOptions(
        model_name="hpt",
        model_base_path=os.path.join(str(root), "hpt"),
        port=0,
        rest_api_port=FREE_PORT,
        **fields,
    )
    handle = start(options)
    handle.wait_until_ready(60)
    return handle


@pytest.fixture(name="copy_version")
def copy_version_fixture() -> Callable[[str, str, int], str]:
    """``copy_version(source_model, base_path, version) -> version_dir`` (atomic rename)."""
    return copy_version


@pytest.fixture
def model_base_path(tmp_path: Any) -> Callable[..., str]:
    """Factory ``(source_model, name="model", versions=(1,)) -> base_path`` in tmp_path."""

    def make(source_model: str, name: str = "model", versions: tuple[int, ...] = (1,)) -> str:
        base = os.path.join(str(tmp_path), name)
        os.makedirs(base, exist_ok=True)
        for version in versions:
            copy_version(source_model, base, version)
        return base

    return make


@pytest.fixture
def start_server() -> Iterator[Callable[..., Any]]:
    """Factory starting in-process servers on free 127.0.0.1 ports; all stopped at teardown.

    Keyword arguments are ServerOptions fields; ``port`` defaults to 0 and ``rest_api_port``
    to FREE_PORT (both: a free port; ``rest_api_port=0`` disables REST as in TF Serving). By
    default the call waits until every configured model has an AVAILABLE version
    (``wait=False`` to skip).
    """
    from seqline.serving.server.server import FREE_PORT, ServerOptions
    from seqline.serving.server.server import start_server as start

    handles = []

    def make(wait: bool = True, **fields: Any) -> Any:
        fields.setdefault("port", 0)
        fields.setdefault("rest_api_port", FREE_PORT)
        fields.setdefault("file_system_poll_wait_seconds", 0.2)
        handle = start(ServerOptions(**fields))
        handles.append(handle)
        if wait:
            handle.wait_until_ready(timeout=60.0)
        return handle

    yield make
    for handle in handles:
        handle.stop()
