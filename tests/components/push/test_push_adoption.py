"""Adoption of a version a killed push published: only exactly the same files, only the newest
version above the deleted high-water mark, and never deleted when the server fails on it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from seqline.components.push import publish
from seqline.components.push.component import PushConfig
from seqline.components.push.deploy import deploy
from seqline.components.push.publish import (
    HIGH_WATER_FILE,
    content_digest,
    integer_versions,
    publish_version,
)
from seqline.pipeline.errors import DataError
from seqline.serving.errors import Code, ServingError
from tests.components.push.push_inputs import write_fake_saved_model


def _server_times_out(monkeypatch: pytest.MonkeyPatch, fail: bool) -> None:
    """Stands in for a model server: reload_and_wait answers or times out; reload_config (the
    restore after a failure) is accepted."""
    import seqline.serving.deploy.reload as reload

    def reload_and_wait(*_args: object, **_kwargs: object) -> None:
        if fail:
            raise ServingError(Code.DEADLINE_EXCEEDED, "deadline exceeded")

    monkeypatch.setattr(reload, "reload_and_wait", reload_and_wait)
    monkeypatch.setattr(reload, "reload_config", lambda *_a, **_k: None)


def test_a_server_failure_after_adoption_keeps_the_adopted_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The push of b published version 2 (serving) and was killed before its record; the
    rerun adopts version 2, and the server times out: version 2 may be serving, so it stays
    (a newly published version is still taken back)."""
    source = write_fake_saved_model(tmp_path / "src")
    serving = tmp_path / "serving"
    config = PushConfig(
        serving_root=str(serving), model_name="m", keep_versions=1, server="localhost:1"
    )
    _server_times_out(monkeypatch, fail=False)
    deploy(str(source), config, marker={"model_fingerprint": "a"})
    deploy(str(source), config, marker={"model_fingerprint": "b"})  # retention deletes 1
    assert integer_versions(str(serving / "m")) == [2]
    entry_before = (serving / "models.config").read_text()

    _server_times_out(monkeypatch, fail=True)
    with pytest.raises(DataError, match=r"version 2.*deadline exceeded.*KEPT \(adopted"):
        deploy(str(source), config, marker={"model_fingerprint": "b"})
    assert integer_versions(str(serving / "m")) == [2]
    assert (serving / "m" / "2" / "saved_model.pb").exists()
    assert (serving / "models.config").read_text() == entry_before

    # A version this push published itself is still deleted again when the server fails.
    with pytest.raises(DataError, match=r"version 3.*deleted again"):
        deploy(str(source), config, marker={"model_fingerprint": "c"})
    assert integer_versions(str(serving / "m")) == [2]


def test_the_same_fingerprint_with_other_files_is_published_not_adopted(tmp_path: Path) -> None:
    """infra_validate's copy gained warmup records (or train re-ran into a wiped root): the
    model fingerprint is the same, the files are not, so they become a new version."""
    plain = write_fake_saved_model(tmp_path / "infra-1")
    warm = tmp_path / "infra-2"
    shutil.copytree(plain, warm)
    (warm / "assets.extra").mkdir()
    (warm / "assets.extra" / "tf_serving_warmup_requests").write_bytes(b"warmup")
    retrained = write_fake_saved_model(tmp_path / "retrained")  # same layout, other bytes
    serving = tmp_path / "serving"
    config = PushConfig(serving_root=str(serving), model_name="m", keep_versions=0)
    marker = {"model_fingerprint": "a"}

    first = deploy(str(plain), config, marker=marker)
    again = deploy(str(plain), config, marker=marker)
    assert (first.version, again.version, again.adopted) == (1, 1, True)

    with_warmup = deploy(str(warm), config, marker=marker)
    assert (with_warmup.version, with_warmup.adopted) == (2, False)
    assert (serving / "m" / "2" / "assets.extra" / "tf_serving_warmup_requests").exists()

    other_bytes = deploy(str(retrained), config, marker=marker)
    assert (other_bytes.version, other_bytes.adopted) == (3, False)
    assert (serving / "m" / "3" / "saved_model.pb").read_bytes() == (
        retrained / "saved_model.pb"
    ).read_bytes()


def test_the_marker_carries_the_digest_of_the_files_pushed(tmp_path: Path) -> None:
    source = write_fake_saved_model(tmp_path / "src")
    published = publish_version(str(source), str(tmp_path / "m"), {"model_fingerprint": "a"})
    marker = publish.read_marker(published.destination)
    assert marker is not None
    assert marker[publish.CONTENT_KEY] == content_digest(str(source))
    # The version digests like its source: the marker itself is left out.
    assert content_digest(published.destination) == content_digest(str(source))

    # Any change of a file's bytes, or of where a file is, changes the digest.
    digest = content_digest(str(source))
    (source / "assets" / "vocab.txt").write_text("the\nmovie\nbad\n")
    assert content_digest(str(source)) != digest
    (source / "assets" / "vocab.txt").write_text("the\nmovie\ngood\n")
    assert content_digest(str(source)) == digest
    (source / "assets" / "vocab.txt").rename(source / "assets" / "vocab2.txt")
    assert content_digest(str(source)) != digest

    # A marker from before digests existed (no content_sha256) is never adopted.
    target = Path(published.destination) / publish.MARKER_FILE
    old = json.loads(target.read_text())
    del old[publish.CONTENT_KEY]
    target.write_text(json.dumps(old))
    (source / "assets" / "vocab2.txt").rename(source / "assets" / "vocab.txt")
    again = publish_version(str(source), str(tmp_path / "m"), {"model_fingerprint": "a"})
    assert (again.version, again.adopted) == (2, False)


def test_a_version_a_killed_take_back_reached_is_not_adopted(tmp_path: Path) -> None:
    """Deletion writes the high-water mark, then renames the version away; killed between the
    two, the version is still there but was being taken back: the rerun publishes anew."""
    source = write_fake_saved_model(tmp_path / "src")
    model_dir = tmp_path / "m"
    marker = {"model_fingerprint": "a"}
    assert publish_version(str(source), str(model_dir), marker).version == 1
    (model_dir / HIGH_WATER_FILE).write_text("1\n")
    again = publish_version(str(source), str(model_dir), marker)
    assert (again.version, again.adopted) == (2, False)
    # Version 2 is above the mark: a rerun adopts it.
    third = publish_version(str(source), str(model_dir), marker)
    assert (third.version, third.adopted) == (2, True)
