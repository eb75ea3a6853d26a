"""pipeline/config_file.py's YAML reading: a key repeated in one mapping is an error."""

from __future__ import annotations

import datetime
import re

import pytest

from seqline.pipeline.config_file import (
    load_pipeline,
    param_texts,
    read_config,
    substitute_parameters,
)
from seqline.pipeline.errors import ConfigError


def test_a_key_repeated_in_one_mapping_is_refused_naming_both_lines(tmp_path) -> None:
    path = tmp_path / "p.yaml"
    # Two train sections: YAML keeps the last, so the first model would vanish without a word.
    path.write_text(
        "name: x\nroot: r\ncomponents:\n  train:\n    model: {layer: gru}\n  train:\n"
        "    epochs: 2\n"
    )
    with pytest.raises(ConfigError, match="found the key 'train' twice .first on line 4.") as e:
        read_config(path)
    assert "line 6" in str(e.value) and str(path) in str(e.value)


def test_a_mapping_used_as_a_key_is_a_config_error(tmp_path) -> None:
    """`? {a: 1}` is valid YAML; it crashed the duplicate-key check with a TypeError."""
    path = tmp_path / "p.yaml"
    path.write_text("name: x\n? {a: 1}\n: 2\n")
    with pytest.raises(ConfigError, match="found a dict as a key; config keys are names"):
        read_config(path)


def test_the_same_key_in_different_mappings_is_fine(tmp_path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("a: {epochs: 1}\nb: {epochs: 2}\nc: [{epochs: 3}, {epochs: 4}]\n")
    assert read_config(path) == {
        "a": {"epochs": 1},
        "b": {"epochs": 2},
        "c": [{"epochs": 3}, {"epochs": 4}],
    }


def test_a_pretrained_vectors_path_is_taken_from_the_config_files_folder(
    tmp_path, monkeypatch
) -> None:
    """Like every path in a config (root, source, serving_root); it was taken from the
    working directory, so a config run from elsewhere failed, and only once train ran."""
    from seqline.pipeline.config_file import load_pipeline

    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / "vectors.txt").write_text("good 0.1 0.2\n")
    config = folder / "p.yaml"
    config.write_text(
        "name: x\nkind: text\nroot: runs\ncomponents:\n"
        "  ingest_text: {source: data.csv, labels: [neg, pos]}\n"
        "  train: {model: {embedding_dim: 2, pretrained: {path: vectors.txt}}}\n"
        "  evaluate: {thresholds: {accuracy: {lower: 0.5}}}\n"
        "  push: {serving_root: serving}\n"
    )
    monkeypatch.chdir(tmp_path)  # not the config's folder
    train = load_pipeline(config).node("train")
    assert train.config.model.pretrained.path == str(folder / "vectors.txt")
    train.component.check(train.config)  # the pre-run check finds it

    (folder / "vectors.txt").unlink()
    with pytest.raises(ConfigError, match="pretrained.path.*does not exist.*config file's folder"):
        train.component.check(train.config)


SERIES = """name: s
kind: series
root: runs
components:
  ingest_series: {source: data.csv, frequency: 1h, lookback: 24, horizon: 6}
  train: {forecaster: {output: direct%s}}
  evaluate: {season: %d, moving_average: 3, thresholds: {mase: {upper: 1.5}}}
  push: {serving_root: serving}
"""
TEXT = """name: t
kind: text
root: runs
components:
  ingest_text: {source: data.csv, labels: [neg, pos]}
  transform: {ngrams: %s}
  train: {model: %s}
  evaluate: {thresholds: {accuracy: {lower: 0.5}}}
  push: {serving_root: serving}
"""


@pytest.mark.parametrize(
    "text, message",
    [
        (SERIES % ("", 48), "components.evaluate.season: expected <= ingest_series.lookback 24"),
        (SERIES % (", residual_lag: 48", 24), "components.train.forecaster.residual_lag"),
        (SERIES % (", lag_context: [2]", 24), "components.train.forecaster.lag_context"),
        (TEXT % ("{orders: 0}", "{ngram_branch: beside}"), "ngram_branch: 'beside' reads"),
        (TEXT % ("{orders: 2}", "{linear_branch: only}"), "weights is 'none'; set weights"),
        (TEXT % ("{orders: 0}", "{class_weights: {neutral: 2}}"), "got ['neutral']"),
    ],
)
def test_cross_node_mistakes_are_config_errors_before_anything_runs(tmp_path, text, message):
    """Each of these was found only when train or evaluate ran, after ingest, statistics and
    transform."""
    from seqline.pipeline.config_file import load_pipeline

    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_pipeline(path)
    # The same config with the mistake mended builds.
    mended = text.replace("season: 48", "season: 24").replace(", residual_lag: 48", "")
    mended = mended.replace(", lag_context: [2]", "").replace("neutral", "pos")
    mended = mended.replace("{orders: 0}", "{orders: 2, weights: tfidf}")
    mended = mended.replace("{orders: 2}", "{orders: 2, weights: tfidf}")
    path.write_text(mended)
    load_pipeline(path)


def test_a_tune_candidate_that_does_not_fit_the_other_nodes_is_refused(tmp_path):
    """A space offering the n-gram branch while transform builds no n-grams failed only in
    the trial that drew it, mid-search."""
    from seqline.pipeline.config_file import load_pipeline

    tuned = TEXT.replace("  evaluate:", "  tune: {space: %s}\n  evaluate:")
    path = tmp_path / "p.yaml"
    path.write_text(tuned % ("{orders: 0}", "{}", "{ngram_branch: {choice: [none, beside]}}"))
    with pytest.raises(
        ConfigError,
        match=re.escape(
            "components.tune.space: the combination {'ngram_branch': 'beside'} does not fit"
        ),
    ):
        load_pipeline(path)
    path.write_text(tuned % ("{orders: 2}", "{}", "{ngram_branch: {choice: [none, beside]}}"))
    load_pipeline(path)


def test_python_params_take_scalars_as_their_text_and_name_the_key_otherwise():
    """load_pipeline(params={"epochs": 2}) failed with an AttributeError inside PyYAML."""
    data = {
        "parameters": {"lr": 0.00001},  # YAML reads 1e-05; str() gave "1e-05", read back as text
        "a": "${i}", "b": "${f}", "c": "${t}", "d": "x-${i}", "e": "${small}", "g": "${day}",
        "h": "${lr}",
    }  # fmt: skip
    params = {"i": 2, "f": 0.5, "t": True, "small": 1e-05, "day": datetime.date(2026, 1, 2)}
    assert substitute_parameters(data, params, {}) == {
        "a": 2, "b": 0.5, "c": True, "d": "x-2", "e": 1e-05, "g": "2026-01-02", "h": 1e-05,
    }  # fmt: skip
    assert param_texts({"t": False, "n": -3, "big": 1e20}) == {
        "t": "false", "n": "-3", "big": "1.0e+20",
    }  # fmt: skip
    with pytest.raises(TypeError, match=r"params\['i'\]: expected a str, int, float, bool or date"):
        substitute_parameters(data, {**params, "i": [2]}, {})
    with pytest.raises(TypeError, match=r"params\['i'\]: .* got NoneType None"):
        substitute_parameters(data, {**params, "i": None}, {})
    with pytest.raises(TypeError, match="expected parameter names as str, got int 3"):
        param_texts({3: "x"})


def test_load_pipeline_takes_an_int_param(tmp_path):
    config = tmp_path / "p.yaml"
    config.write_text(
        "name: x\nkind: text\nroot: out\ncomponents:\n"
        "  ingest_text: {source: data.csv, labels: [neg, pos]}\n"
        "  train:\n    epochs: ${epochs}\n"
        "  evaluate: {beat_baseline: [accuracy]}\n  push: {serving_root: serving}\n"
    )
    assert load_pipeline(config, params={"epochs": 2}).node("train").config.epochs == 2


def test_a_null_parameter_default_is_refused(tmp_path) -> None:
    """`parameters: {pattern: null}` substituted the text "None" into the config."""
    path = tmp_path / "p.yaml"
    path.write_text("name: x\nparameters: {pattern: null}\nroot: ${pattern}\n")
    with pytest.raises(ConfigError, match=r"expected a default value for \['pattern'\], got null"):
        read_config(path)
    path.write_text("name: x\nparameters: {pattern: a}\nroot: ${pattern}\n")
    assert read_config(path)["root"] == "a"


BASE = """name: t
kind: text
root: %s
components:
  ingest_text: {source: data.csv, labels: [neg, pos]}
  evaluate: {thresholds: {accuracy: {lower: 0.5}}}
  push: {serving_root: serving%s}
"""


def test_merge_keys_and_x_keys_reuse_yaml_blocks(tmp_path) -> None:
    """`<<: *anchor` failed with "could not determine a constructor for the tag ...merge", and
    a top-level x- key holding the anchor was an unknown field."""
    path = tmp_path / "p.yaml"
    path.write_text(
        "x-small: &small {embedding_dim: 4, units: 4}\n"
        + BASE % ("runs", "")
        + "  train:\n    model: {<<: *small, units: 8}\n    epochs: 2\n"
    )
    assert "x-small" not in read_config(path)
    model = load_pipeline(path).node("train").config.model
    assert (model.embedding_dim, model.units) == (4, 8)  # the explicit key overrides the merge
    # A key written twice by hand is still refused next to a merge.
    path.write_text("d: &d {a: 1}\ne:\n  <<: *d\n  b: 2\n  b: 3\n")
    with pytest.raises(ConfigError, match="found the key 'b' twice"):
        read_config(path)


def test_a_merged_anchor_deeper_than_its_merge_keeps_its_own_override(tmp_path) -> None:
    """Building `x-longer` (which merges *train) first flattened the deeper `train` node in
    place, so train's own check saw its merged-in epochs beside its explicit one and refused a
    valid config with "found the key 'epochs' twice"."""
    path = tmp_path / "p.yaml"
    path.write_text(
        "x-base: &base {epochs: 2, batch_size: 32}\n"
        "components:\n"
        "  train: &train\n"
        "    <<: *base\n"
        "    epochs: 4\n"
        "x-longer:\n"
        "  <<: *train\n"
        "  epochs: 8\n"
        "a:\n  b:\n    c: &m\n      <<: *base\n      epochs: 5\nd:\n  <<: *m\n"
    )
    config = read_config(path)
    assert config["components"]["train"] == {"epochs": 4, "batch_size": 32}
    assert config["a"]["b"]["c"] == config["d"] == {"epochs": 5, "batch_size": 32}
    # A key written twice in the deep anchor is still refused, naming both lines.
    path.write_text(
        "x-base: &base {epochs: 2}\n"
        "a:\n  b:\n    c: &m\n      <<: *base\n      epochs: 4\n      epochs: 5\n"
        "d:\n  <<: *m\n"
    )
    with pytest.raises(ConfigError, match="found the key 'epochs' twice .first on line 6.") as e:
        read_config(path)
    assert "line 7" in str(e.value)


@pytest.mark.parametrize(
    ("root", "message"),
    [
        ('""', "root: expected a non-empty path (a folder, or a URL such as gs://"),
        ("runs[v2]", "root: expected a path without the glob characters [ ] * ? "),
        ("gs://b/runs*", "holds ['*']"),
    ],
)  # fmt: skip
def test_an_empty_root_or_one_beam_would_glob_is_refused(tmp_path, root, message) -> None:
    """root: "" wrote the artifacts beside the YAML; a root with [ failed inside Beam's file
    sink ("src and dst files do not exist") once ingest ran."""
    path = tmp_path / "p.yaml"
    path.write_text(BASE % (root, ""))
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_pipeline(path)
    path.write_text(BASE % ("runs", ""))
    with pytest.raises(ConfigError, match=re.escape(message)):  # the same for --root
        load_pipeline(path, overrides={"root": root.strip('"')})


def test_unknown_top_level_keys_name_the_real_ones_and_base_dir_is_not_one(tmp_path) -> None:
    """The message began with a stray ': ', listed the internal base_dir and left out
    parameters and orchestration; `base_dir:` in YAML moved every relative path."""
    path = tmp_path / "p.yaml"
    path.write_text(BASE % ("runs", "") + "roots: x\n")
    with pytest.raises(ConfigError) as e:
        load_pipeline(path)
    message = str(e.value)
    assert message.startswith(f"{path}: unknown top-level key(s) ['roots']; a pipeline config")
    assert "'parameters', 'orchestration'" in message and "'x-'" in message
    assert "base_dir" not in message
    path.write_text(BASE % ("runs", "") + "base_dir: /elsewhere\n")
    with pytest.raises(ConfigError, match=re.escape("unknown top-level key(s) ['base_dir']")):
        load_pipeline(path)


def test_yaml_errors_name_the_file_and_say_how_to_fix(tmp_path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("name: x\ncomponents:\n  train: {epochs: ${E}}\n")
    with pytest.raises(ConfigError) as e:
        read_config(path, {"E": "2"})
    assert f'in "{path}", line 3' in str(e.value) and "<unicode string>" not in str(e.value)
    assert 'must be quoted: write "${span}"' in str(e.value)
    path.write_text("# nothing yet\n")
    with pytest.raises(ConfigError, match="the file is empty .or holds only comments."):
        load_pipeline(path)
    path.write_bytes("name: x\n# caf\u00e9\n".encode("latin-1"))  # not UTF-8
    with pytest.raises(ConfigError, match=r"expected UTF-8 text, got the byte 0xe9 at offset 13"):
        load_pipeline(path)


def test_push_model_config_file_is_taken_from_the_config_files_folder(
    tmp_path, monkeypatch
) -> None:
    """It stayed relative, so models.config went wherever `seqline run` was started."""
    folder = tmp_path / "configs"
    folder.mkdir()
    path = folder / "p.yaml"
    path.write_text(BASE % ("runs", ", model_config_file: out/models.config"))
    monkeypatch.chdir(tmp_path)
    push = load_pipeline(path).node("push").config
    assert push.model_config_file == str(folder / "out" / "models.config")
    assert push.serving_root == str(folder / "serving")


@pytest.mark.parametrize("value", ["[vocab_size, 7]", "[[vocab_size, 7]]", "false", "0", "abc"])
def test_a_node_config_that_is_not_a_mapping_is_a_config_error(tmp_path, value) -> None:
    """A list or scalar crashed with a ValueError/TypeError traceback, or ([[k, v]], false, 0)
    was silently taken as other settings or the defaults."""
    path = tmp_path / "p.yaml"
    path.write_text(BASE % ("runs", "") + f"  transform: {value}\n")
    with pytest.raises(ConfigError, match=r"components.transform: expected a mapping \(Transform"):
        load_pipeline(path)
    path.write_text(BASE % ("runs", "") + "  transform:\n")  # empty: the defaults
    load_pipeline(path)


def test_store_location_reads_only_root_and_metadata_url(tmp_path) -> None:
    """`runs --config` needed every run parameter and a config valid in every value."""
    from seqline.pipeline.config_file import store_location

    path = tmp_path / "p.yaml"
    path.write_text(
        "name: x\nkind: text\nroot: ${where}\nparameters: {where: runs}\n"
        'components:\n  train: {epochs: "${E}"}\n  trian: {}\n'
    )
    assert store_location(path) == (str(tmp_path / "runs"), None)
    path.write_text("name: x\nroot: runs/${team}\nmetadata_url: sqlite:////m.sqlite\n")
    with pytest.raises(ConfigError, match="missing run parameter.*name the store with --root"):
        store_location(path)
