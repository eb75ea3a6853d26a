"""The TF Serving loading contract, checked on exported SavedModels without the C++ server:
the MetaGraph loaded into a TF1 Session the way tensorflow_model_server loads it, every variable
restored, and each signature giving what tf.saved_model.load's signature gives."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def assert_serves_from_a_session(path: str, requests: Mapping[str, dict[str, np.ndarray]]) -> None:
    """`requests`: signature name -> its inputs (numpy arrays, object arrays of bytes for
    strings). Fails unless seqline's session runtime accepts the model (it refuses one whose
    variables the TF1 loader leaves unrestored) and each listed signature matches the TF2 call.
    """
    import tensorflow as tf

    from seqline.serving.server.servable import _session_signatures

    session, runners = _session_signatures(path, ("serve",), list(requests))
    restored = tf.saved_model.load(path)
    try:  # not `with session`: that makes its graph the default, and the TF2 calls are eager
        for name, inputs in requests.items():
            got = runners[name](inputs)
            expected = restored.signatures[name](**{k: tf.constant(v) for k, v in inputs.items()})
            assert set(got) == set(expected), name
            for alias, value in expected.items():
                if value.dtype == tf.string:
                    np.testing.assert_array_equal(got[alias], value.numpy())
                else:
                    np.testing.assert_allclose(got[alias], value.numpy(), rtol=1e-5, atol=1e-6)
    finally:
        session.close()
