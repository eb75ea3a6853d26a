"""SignatureRunner's fast call paths give exactly the public signature call's results."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from seqline.serving.errors import Code, ServingError
from seqline.serving.server import signature_runner
from seqline.serving.server.signature_runner import SINGLE_THREADED_EXECUTOR, SignatureRunner


@pytest.fixture(scope="module")
def two_input_model(tmp_path_factory) -> str:
    """Inputs declared (zeta, alpha) so declaration, sorted and flat orders differ."""

    class TwoInputs(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = tf.Variable(3.0)

        @tf.function(
            input_signature=[
                tf.TensorSpec([None], tf.float32, name="zeta"),
                tf.TensorSpec([None, 2], tf.int64, name="alpha"),
            ]
        )
        def serve(self, zeta: tf.Tensor, alpha: tf.Tensor) -> dict[str, tf.Tensor]:
            return {
                "z_scaled": zeta * self.scale,
                "a_sum": tf.reduce_sum(alpha, axis=1),
                "b_pair": tf.stack([zeta, tf.cast(alpha[:, 0], tf.float32)], axis=1),
            }

    module = TwoInputs()
    path = str(tmp_path_factory.mktemp("two_inputs") / "model")
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve})
    return path


@pytest.mark.parametrize("path_kind", ["direct", "call_flat", "public"])
def test_every_call_path_matches_the_public_call(two_input_model, path_kind):
    function = tf.saved_model.load(two_input_model).signatures["serving_default"]
    runner = SignatureRunner("serving_default", function, "tensorflow/serving/predict")
    assert runner._flat is not None and runner._flat.context is not None  # fast path in use
    if path_kind == "call_flat":
        runner._flat = dataclasses.replace(runner._flat, context=None)
    elif path_kind == "public":
        runner._flat = None
    inputs = {
        "zeta": np.array([1.0, -2.0], np.float32),
        "alpha": np.array([[1, 2], [30, 40]], np.int64),
    }
    runner.check_inputs(inputs)
    outputs = runner(inputs)
    expected = function(zeta=tf.constant(inputs["zeta"]), alpha=tf.constant(inputs["alpha"]))
    assert set(outputs) == set(expected)
    for alias, value in expected.items():
        np.testing.assert_array_equal(outputs[alias], value.numpy())
    assert runner.calls == 1


def test_runner_checks_and_graph_errors(two_input_model):
    function = tf.saved_model.load(two_input_model).signatures["serving_default"]
    runner = SignatureRunner("serving_default", function, "tensorflow/serving/predict")
    assert runner.batchable
    good = {"zeta": np.zeros(2, np.float32), "alpha": np.zeros((2, 2), np.int64)}
    for bad in (
        {**good, "alpha": np.zeros((2, 3), np.int64)},  # fixed dimension differs
        {**good, "alpha": np.zeros((2, 2), np.int32)},  # dtype differs
        {"zeta": good["zeta"]},  # missing input
    ):
        with pytest.raises(ServingError) as error:
            runner.check_inputs(bad)
        assert error.value.code == Code.INVALID_ARGUMENT
    # Inconsistent batch sizes pass the static checks; the graph rejects them and the error
    # keeps TensorFlow's code.
    with pytest.raises(ServingError) as error:
        runner({"zeta": np.zeros(3, np.float32), "alpha": np.zeros((2, 2), np.int64)})
    assert error.value.code == Code.INVALID_ARGUMENT


def test_direct_call_uses_the_single_threaded_executor_on_cpu(two_input_model):
    function = tf.saved_model.load(two_input_model).signatures["serving_default"]
    runner = SignatureRunner("serving_default", function, "tensorflow/serving/predict")
    assert runner._flat is not None
    assert runner._flat.attrs[:2] == ("executor_type", SINGLE_THREADED_EXECUTOR)


def test_tensorflow_executor_default_keeps_tensorflows_executor(two_input_model, monkeypatch):
    """`--tensorflow_executor=default`: signatures loaded afterwards run on TensorFlow's own
    executor (its inter-op pool), and give the same outputs."""
    function = tf.saved_model.load(two_input_model).signatures["serving_default"]
    inputs = {
        "zeta": np.array([1.0, 2.0], np.float32),
        "alpha": np.array([[3, 4], [5, 6]], np.int64),
    }
    fast = SignatureRunner("serving_default", function, "tensorflow/serving/predict")(inputs)
    monkeypatch.setattr(signature_runner, "_executor_choice", "auto")  # restored afterwards
    signature_runner.choose_executor("default")
    runner = SignatureRunner("serving_default", function, "tensorflow/serving/predict")
    assert runner._flat is not None and runner._flat.attrs[:2] == ("executor_type", "")
    for name, value in runner(inputs).items():
        np.testing.assert_array_equal(value, fast[name])
    with pytest.raises(ValueError, match="expected one of"):
        signature_runner.choose_executor("fast")


@pytest.fixture(scope="module")
def switch_merge_model(tmp_path_factory) -> str:
    """A graph with TF1 control flow (Switch/Merge), which the single-threaded executor
    refuses; the default executor runs it."""

    class SwitchMerge(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def serve(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
            when_false, when_true = tf.raw_ops.Switch(data=x, pred=tf.reduce_sum(x) > 0.0)
            merged, _ = tf.raw_ops.Merge(inputs=[when_false * -1.0, when_true * 2.0])
            return {"y": merged}

    module = SwitchMerge()
    path = str(tmp_path_factory.mktemp("switch_merge") / "model")
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve})
    return path


def test_graph_refused_by_single_threaded_executor_falls_back_for_good(switch_merge_model):
    function = tf.saved_model.load(switch_merge_model).signatures["serving_default"]
    runner = SignatureRunner("serving_default", function, "tensorflow/serving/predict")
    assert runner._flat is not None and runner._flat.context is not None
    for x in (np.array([1.0, 2.0], np.float32), np.array([-3.0], np.float32)):
        outputs = runner({"x": x})
        np.testing.assert_array_equal(outputs["y"], function(x=tf.constant(x))["y"].numpy())
        assert runner._flat.attrs[:2] == ("executor_type", "")  # the default, from now on
    assert runner.calls == 2


@pytest.mark.parametrize("inline", [True, False])
def test_session_runner_matches_the_public_call_and_keeps_the_checks(two_input_model, inline):
    """The session runtime (a TF1 Session callable of the SignatureDef, on the calling thread
    or TensorFlow's pool) gives the restored function's outputs, and the same errors."""
    from seqline.serving.server.servable import _session_signatures

    function = tf.saved_model.load(two_input_model).signatures["serving_default"]
    eager = SignatureRunner("serving_default", function, "tensorflow/serving/predict")
    session, runners = _session_signatures(two_input_model, ("serve",), ["serving_default"])
    with session:
        runner = runners["serving_default"]
        if not inline:
            runner = SignatureRunner.from_session(
                "serving_default",
                session,
                _signature_def(two_input_model),
                "tensorflow/serving/predict",
                inline=False,
            )
        assert runner._session_call is not None and runner._flat is None
        assert (runner.inputs, runner.output_aliases, runner.batchable) == (
            eager.inputs,
            eager.output_aliases,
            eager.batchable,
        )
        inputs = {
            "zeta": np.array([1.0, -2.0, 0.5], np.float32),
            "alpha": np.array([[1, 2], [30, 40], [5, 6]], np.int64),
        }
        outputs, expected = runner(inputs), eager(inputs)
        assert set(outputs) == set(expected)
        for alias, value in expected.items():
            np.testing.assert_array_equal(outputs[alias], value)
        with pytest.raises(ServingError) as error:
            runner.check_inputs({**inputs, "alpha": np.zeros((3, 2), np.int32)})
        assert error.value.code == Code.INVALID_ARGUMENT
        with pytest.raises(ServingError) as error:  # the graph's own error keeps its code
            runner({"zeta": np.zeros(3, np.float32), "alpha": np.zeros((2, 2), np.int64)})
        assert error.value.code == Code.INVALID_ARGUMENT
        assert runner.calls == 2


def _signature_def(path: str, key: str = "serving_default"):
    from seqline.serving.server.servable import read_saved_model_proto, serve_meta_graph

    return serve_meta_graph(read_saved_model_proto(path)).signature_def[key]


def test_session_runtime_runs_tf1_control_flow(switch_merge_model):
    from seqline.serving.server.servable import load_servable

    servable = load_servable("m", 1, switch_merge_model)
    runner = servable.signatures["serving_default"]
    assert runner._session_call is not None
    np.testing.assert_array_equal(runner({"x": np.array([1.0, 2.0], np.float32)})["y"], [2, 4])
    np.testing.assert_array_equal(runner({"x": np.array([-3.0], np.float32)})["y"], [3])


def test_load_servable_runtimes_and_the_fallback(two_input_model, monkeypatch, caplog):
    from seqline.serving.server import servable as servable_module

    inputs = {"zeta": np.array([2.0], np.float32), "alpha": np.array([[1, 2]], np.int64)}
    session = servable_module.load_servable("m", 1, two_input_model)
    function = servable_module.load_servable("m", 1, two_input_model, runtime="function")
    assert isinstance(session.loaded, tf.compat.v1.Session)
    assert (session.runtime, function.runtime) == ("session", "function")
    assert function.signatures["serving_default"]._flat is not None
    assert session.metadata_any == function.metadata_any
    for alias, value in function.signatures["serving_default"](inputs).items():
        np.testing.assert_array_equal(session.signatures["serving_default"](inputs)[alias], value)
    with pytest.raises(ValueError, match="tensorflow_runtime: expected one of"):
        servable_module.load_servable("m", 1, two_input_model, runtime="xla")

    def refuse(*_args, **_kwargs):
        raise ValueError("signature 'serving_default': input 'x' is not a dense tensor")

    monkeypatch.setattr(servable_module, "_session_signatures", refuse)
    with caplog.at_level("WARNING"):
        fallback = servable_module.load_servable("m", 2, two_input_model)
    assert "using the function runtime" in caplog.text and "not a dense tensor" in caplog.text
    assert (
        fallback.signatures["serving_default"]._flat is not None and fallback.runtime == "function"
    )
    np.testing.assert_array_equal(fallback.signatures["serving_default"](inputs)["z_scaled"], [6.0])


@pytest.fixture(scope="module")
def keras_held_the_usual_way(tmp_path_factory):
    """(path, model): a Keras 3 model held by a tf.Module as an attribute, saved; the TF1
    loader leaves its variables unrestored, so tensorflow_model_server would fail on every
    request (components/train/session_restorable.py)."""
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="head")])

    class Held(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
        def serve(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"y": self.model(x)}

    module = Held()
    path = str(tmp_path_factory.mktemp("held") / "model")
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve})
    return path, model


def test_a_keras_model_the_tf1_loader_cannot_restore_is_served_by_the_function_runtime(
    keras_held_the_usual_way, caplog
):
    """The session runtime notices at load, says why, and the version serves through the
    function runtime."""
    from seqline.serving.server.servable import load_servable

    path, model = keras_held_the_usual_way
    with caplog.at_level("WARNING"):
        servable = load_servable("m", 1, path)
    assert "unrestored" in caplog.text and "tensorflow_model_server" in caplog.text
    runner = servable.signatures["serving_default"]
    assert runner._session_call is None and runner._flat is not None
    x = np.array([[1.0, 2.0]], np.float32)
    np.testing.assert_allclose(runner({"x": x})["y"], model(x).numpy(), rtol=1e-6)


def test_session_strict_refuses_what_tensorflow_model_server_could_not_run(
    keras_held_the_usual_way,
):
    from seqline.serving.server.servable import load_servable

    path, _ = keras_held_the_usual_way
    with pytest.raises(ValueError, match="tensorflow_model_server could not run.*unrestored"):
        load_servable("m", 1, path, runtime="session_strict")


def test_unrestored_variables_no_signature_reads_do_not_matter(tmp_path):
    """Only the variables behind the signatures' outputs are checked: a TF1 graph with a
    variable nothing restores (left-over training state) and no signature reads still runs in
    the Session, as it would in tensorflow_model_server."""
    from seqline.serving.server.servable import load_servable

    path = str(tmp_path / "tf1")
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as session:
        x = tf.compat.v1.placeholder(tf.float32, [None], name="x")
        scale = tf.compat.v1.get_variable("scale", initializer=3.0, use_resource=True)
        tf.compat.v1.get_variable(
            "unused_step", initializer=0.0, use_resource=True, collections=[]
        )  # in no collection: neither saved nor initialised
        session.run(scale.initializer)
        builder = tf.compat.v1.saved_model.Builder(path)
        signature = tf.compat.v1.saved_model.predict_signature_def({"x": x}, {"y": x * scale})
        builder.add_meta_graph_and_variables(
            session, ["serve"], signature_def_map={"serving_default": signature}
        )
        builder.save()
    servable = load_servable("m", 1, path, runtime="session_strict")
    runner = servable.signatures["serving_default"]
    assert runner._session_call is not None
    np.testing.assert_allclose(runner({"x": np.array([1.0, 2.0], np.float32)})["y"], [3.0, 6.0])


@pytest.mark.parametrize("runtime", ["session", "function"])
def test_inputs_left_out_take_the_signature_defaults_in_both_runtimes(defaults_model, runtime):
    from seqline.serving.server.inference import predict_arrays
    from seqline.serving.server.servable import load_servable

    servable = load_servable("defaults", 1, defaults_model, runtime=runtime)
    assert servable.runtime == runtime
    runner = servable.signatures["serving_default"]
    assert runner.defaults["scale"].tolist() == 10.0
    x = np.array([1.0, 2.0], np.float32)
    assert predict_arrays(servable, runner, {"x": x})["y"].tolist() == [10.0, 20.0]
    given = {"x": x, "scale": np.array(3.0, np.float32)}
    assert predict_arrays(servable, runner, given)["y"].tolist() == [3.0, 6.0]
    with pytest.raises(ServingError, match=r"Missing but required: \['x'\]"):
        predict_arrays(servable, runner, {"scale": np.array(3.0, np.float32)})
