"""A damaged, locked or missing metadata store is a MetadataError naming the file and what to
do, never a SQLAlchemy traceback; a store failure mid-run ends the run cleanly with it; read-only
commands never create a store."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from seqline.pipeline import metadata
from seqline.pipeline.artifact import ArtifactType, read_artifact
from seqline.pipeline.cli import main
from seqline.pipeline.component import Component, ExecutionContext
from seqline.pipeline.dag import Node, OutputRef, Pipeline
from seqline.pipeline.errors import MetadataError
from seqline.pipeline.metadata import MetadataStore, default_metadata_url
from seqline.pipeline.runner import NodeResult, Progress, run_pipeline
from tests.pipeline import toy_components as toy
from tests.pipeline.test_runner import make_pipeline


def _damage(path: Path, how: str) -> None:
    if how == "garbage":
        path.write_bytes(bytes(range(256)) * 12)
    else:  # the first pages of a real store: a copy cut short
        data = path.read_bytes()
        path.write_bytes(data[: max(len(data) // 3, 4096)])


@pytest.mark.parametrize("how", ["garbage", "truncated"])
def test_a_damaged_store_says_which_file_and_what_to_do(tmp_path, capsys, how):
    root = tmp_path / "root"
    run_pipeline(make_pipeline(root))
    store_file = root / "metadata.sqlite"
    if how == "truncated":  # make it big enough that cutting it loses tables
        for _ in range(3):
            run_pipeline(make_pipeline(root, count=_ + 6))
    _damage(store_file, how)

    with pytest.raises(MetadataError) as err:
        MetadataStore(default_metadata_url(str(root))).runs()
    message = str(err.value)
    assert f"metadata store {store_file} is damaged" in message
    assert "Restore it from a backup" in message and f"mv {store_file}" in message

    assert main(["runs", "--root", str(root)]) == 2
    printed = capsys.readouterr().err
    assert f"error: metadata store {store_file} is damaged" in printed
    assert "Traceback" not in printed and "sqlalchemy" not in printed.lower()
    with pytest.raises(MetadataError, match="is damaged"):
        run_pipeline(make_pipeline(root))


@dataclass(frozen=True)
class LockConfig:
    store: str = ""


HOLDERS: list[sqlite3.Connection] = []


def lock_the_store(ctx: ExecutionContext) -> dict:
    """Writes its output, then another connection takes the store's write lock (a sqlite3
    shell or a backup holding it while the runner records the node)."""
    (Path(ctx.outputs["model"].uri) / "total.json").write_text("10")
    toy.complete_model(ctx.outputs["model"])
    holder = sqlite3.connect(ctx.config.store, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    HOLDERS.append(holder)
    return {}


LOCK_THE_STORE = Component(
    name="lock_the_store",
    inputs={"examples": ArtifactType.EXAMPLES},
    outputs={"model": ArtifactType.MODEL},
    config_type=LockConfig,
    executor=lock_the_store,
)


def _locking_pipeline(root: Path) -> Pipeline:
    return Pipeline(
        "toy",
        str(root),
        [
            Node(toy.WRITE_NUMBERS, toy.WriteNumbersConfig()),
            Node(
                LOCK_THE_STORE,
                LockConfig(store=str(root / "metadata.sqlite")),
                {"examples": OutputRef("write_numbers", "examples")},
            ),
        ],
    )


@pytest.fixture
def short_busy_timeout(monkeypatch):
    monkeypatch.setattr(metadata, "SQLITE_BUSY_TIMEOUT", 0.3)
    yield
    while HOLDERS:
        HOLDERS.pop().close()


class Finished(Progress):
    def __init__(self) -> None:
        self.statuses: list[tuple[str, str]] = []

    def node_finished(self, index: int, total: int, result: NodeResult) -> None:
        self.statuses.append((result.node_id, result.status))


def _release_at_first_store_error(monkeypatch) -> None:
    original = metadata.store_error

    def releasing(url, exc, opening=False):
        while HOLDERS:
            HOLDERS.pop().close()
        return original(url, exc, opening)

    monkeypatch.setattr(metadata, "store_error", releasing)


def test_a_lock_held_mid_run_ends_the_run_cleanly_and_the_next_run_recovers(
    tmp_path, monkeypatch, short_busy_timeout
):
    """The lock outlived the busy timeout while the node's outputs were recorded: an
    OperationalError traceback, the artifact published but never recorded, the execution left
    RUNNING."""
    root = tmp_path / "root"
    _release_at_first_store_error(monkeypatch)
    finished = Finished()
    with pytest.raises(MetadataError) as err:
        run_pipeline(_locking_pipeline(root), max_parallel=1, progress=finished)
    assert finished.statuses == [("write_numbers", "COMPLETE"), ("lock_the_store", "FAILED")]
    message = str(err.value)
    assert f"metadata store {root / 'metadata.sqlite'} is locked" in message
    assert "longer than 0.3 s" in message and "run again" in message

    store = MetadataStore(default_metadata_url(str(root)))
    (run,) = store.runs()
    assert run["status"] == "FAILED" and "is locked" in run["error"]
    execution = {e.node_id: e for e in store.executions(run["run_id"])}["lock_the_store"]
    assert execution.status == "FAILED"
    assert "before this node's end could be recorded" in execution.error
    published = root / "lock_the_store" / "model" / execution.fingerprint
    assert read_artifact(str(published)) is not None  # published before the store failed

    again = run_pipeline(_locking_pipeline(root))
    assert [n.status for n in again.nodes] == ["CACHED", "CACHED"]
    assert store.artifact_by_uri(str(published)) is not None
    assert store.run(again.run_id)["status"] == "SUCCEEDED"


def test_a_store_that_stays_locked_is_one_clear_error_from_seqline_run(
    tmp_path, monkeypatch, capsys, short_busy_timeout
):
    import seqline.pipeline.config_file as config_file

    root = tmp_path / "root"
    config = tmp_path / "p.yaml"
    config.write_text("name: toy\nkind: text\nroot: root\ncomponents: {}\n")
    monkeypatch.setattr(config_file, "load_pipeline", lambda *a, **k: _locking_pipeline(root))
    assert main(["run", str(config), "--max-parallel", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: metadata store {root / 'metadata.sqlite'} is locked")
    assert "Traceback" not in err and "OperationalError" not in err


@pytest.mark.parametrize("command", [["runs"], ["show", "latest"], ["lineage", "m", "1"]])
def test_read_only_commands_never_create_a_store(tmp_path, capsys, command):
    """`seqline runs --root <typo>` created the folder and an empty store, then said that no
    run was recorded."""
    typo = tmp_path / "no_such_root"
    assert main([*command, "--root", str(typo)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: no metadata store at {typo / 'metadata.sqlite'}; ")
    assert "expected the pipeline root (--root)" in err
    assert not typo.exists()

    url = "sqlite:///" + str(tmp_path / "elsewhere" / "meta.sqlite")
    assert main([*command, "--metadata-url", url]) == 2
    err = capsys.readouterr().err
    assert "no metadata store at " in err
    # A URL names the file: the message must not send its user looking for a root folder.
    assert "expected the SQLite file a run created with this metadata_url (--metadata-url)" in err
    assert "pipeline root" not in err
    assert not (tmp_path / "elsewhere").exists()


def test_a_server_that_cannot_be_reached_is_named_without_its_password():
    """The message of a store that could not be opened printed the URL as given, password and
    all, into the logs of every task (an Airflow task's log is read by many)."""
    pytest.importorskip("pg8000")
    url = "postgresql+pg8000://seqline:s3cret-pw@127.0.0.1:1/seqline"  # port 1: refused
    with pytest.raises(MetadataError) as error:
        MetadataStore(url)
    message = str(error.value)
    assert message.startswith("cannot open metadata store postgresql+pg8000://seqline:***@")
    assert "s3cret-pw" not in message
