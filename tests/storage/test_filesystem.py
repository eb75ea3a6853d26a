"""seqline.storage.filesystem on local paths (file:// included); remote paths are exercised
through TensorFlow's ram:// filesystem in tests/components/push."""

from __future__ import annotations

import os

import pytest

from seqline.storage import filesystem


def test_is_remote_tells_url_schemes_from_local_paths():
    assert filesystem.is_remote("gs://bucket/x")
    assert filesystem.is_remote("s3://bucket/x")
    assert not filesystem.is_remote("/tmp/x")
    assert not filesystem.is_remote("file:///tmp/x")


def test_join_uses_single_slashes():
    assert filesystem.join("gs://b/root/", "/a/", "b") == "gs://b/root/a/b"


def test_write_text_replaces_atomically_and_leaves_no_temporary(tmp_path):
    path = str(tmp_path / "f.json")
    filesystem.write_text(path, "one")
    filesystem.write_text(f"file://{path}", "two")
    assert filesystem.read_text(path) == "two"
    assert os.listdir(tmp_path) == ["f.json"]


def test_rename_refuses_to_overwrite_a_directory_with_content(tmp_path):
    filesystem.makedirs(str(tmp_path / "a"))
    filesystem.makedirs(str(tmp_path / "b"))
    filesystem.write_text(str(tmp_path / "b" / "x"), "x")
    with pytest.raises(OSError):
        filesystem.rename(str(tmp_path / "a"), str(tmp_path / "b"))


def test_walk_files_and_copytree_keep_the_tree(tmp_path):
    src = tmp_path / "src"
    filesystem.makedirs(str(src / "sub"))
    filesystem.write_text(str(src / "b.txt"), "b")
    filesystem.write_text(str(src / "sub" / "a.txt"), "a")
    filesystem.copytree(str(src), str(tmp_path / "dst"))
    copied = [
        os.path.relpath(p, tmp_path / "dst") for p in filesystem.walk_files(str(tmp_path / "dst"))
    ]
    assert copied == ["b.txt", os.path.join("sub", "a.txt")]
    filesystem.rmtree(str(tmp_path / "dst"))
    assert not filesystem.exists(str(tmp_path / "dst"))


def test_local_path_and_absolute_treat_a_file_url_as_the_local_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert filesystem.local_path(f"file://{tmp_path}/m") == f"{tmp_path}/m"
    assert filesystem.local_path("gs://b/m") == "gs://b/m"
    assert filesystem.absolute(f"file://{tmp_path}/m") == f"{tmp_path}/m"
    assert filesystem.absolute("m") == f"{tmp_path}/m"
    assert filesystem.absolute("gs://b/m/") == "gs://b/m/"


def test_a_scheme_tensorflow_has_not_registered_is_refused_with_the_remedy():
    # This venv's TensorFlow registers gs:// and ram:// only; s3:// needs tensorflow-io, which
    # is not installed here (TensorFlow's own error, "File system scheme 's3' not
    # implemented", names no remedy).
    pytest.importorskip("tensorflow")
    import tensorflow as tf

    if "s3" in tf.io.gfile.get_registered_schemes():
        pytest.skip("s3:// is registered here (tensorflow-io is installed)")
    for call in (
        lambda: filesystem.check_scheme("s3://bucket/pipe"),
        lambda: filesystem.exists("s3://bucket/pipe/artifact.json"),
    ):
        with pytest.raises(filesystem.UnsupportedSchemeError) as caught:
            call()
        message = str(caught.value)
        assert "s3://bucket/pipe" in message
        assert "gs://" in message  # what is registered
        assert "pip install tensorflow-io" in message
    with pytest.raises(filesystem.UnsupportedSchemeError, match="got nosuch://"):
        filesystem.check_scheme("nosuch://x")
    filesystem.check_scheme("ram://ok")  # registered: no error
    filesystem.check_scheme("/local/path")
