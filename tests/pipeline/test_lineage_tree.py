"""`seqline lineage` prints a tree: the lines indented under an artifact are the inputs of the
execution that produced it, whatever order the store's breadth-first walk gives them in."""

from __future__ import annotations

from seqline.pipeline.cli import main
from seqline.pipeline.metadata import MetadataStore, default_metadata_url
from tests.pipeline.metadata_records import record_execution


def _history(root) -> None:
    """Run r1 trains model A on span-1 examples; run r2 trains model B on span-2 examples with
    A as its baseline, and pushes B as version 2."""
    store = MetadataStore(default_metadata_url(str(root)))
    store.start_run("r1", "p")
    old = record_execution(store, "r1", "ingest", {}, {"examples": ("Examples", "/ex1", {})})
    model_a = record_execution(
        store, "r1", "train", {"examples": old["examples"]}, {"model": ("Model", "/a", {})}
    )
    store.finish_run("r1", "SUCCEEDED")
    store.start_run("r2", "p")
    new = record_execution(store, "r2", "ingest", {}, {"examples": ("Examples", "/ex2", {})})
    graph = record_execution(
        store, "r2", "transform", {"examples": new["examples"]},
        {"transformed": ("TransformedExamples", "/tx2", {})},
    )  # fmt: skip
    model_b = record_execution(
        store, "r2", "train",
        {"transformed": graph["transformed"], "baseline_model": model_a["model"]},
        {"model": ("Model", "/b", {})},
    )  # fmt: skip
    pushed = {"pushed": True, "version": 2, "destination": "/srv/m/2"}
    record_execution(
        store, "r2", "push", {"model": model_b["model"]},
        {"pushed_model": ("PushedModel", "/push2", pushed)},
    )  # fmt: skip
    store.finish_run("r2", "SUCCEEDED")
    store.close()


def _entries(out: str) -> list[tuple[int, str]]:
    """(indent, 'node <- input: Type uri') for each lineage line naming an input."""
    return [
        (len(line) - len(line.lstrip()), line.strip())
        for line in out.splitlines()
        if " <- " in line
    ]


def test_each_artifacts_inputs_are_printed_under_it(tmp_path, capsys) -> None:
    _history(tmp_path)
    assert main(["lineage", "m", "2", "--root", str(tmp_path)]) == 0
    entries = _entries(capsys.readouterr().out)
    uris = [text.split()[-1] for _, text in entries]
    assert sorted(uris) == ["/a", "/b", "/ex1", "/ex2", "/tx2"], entries
    depth = {text.split()[-1]: indent for indent, text in entries}
    # Each producer's inputs come right after the artifact it made, one level deeper: the new
    # model's span-2 data under its transformed examples, the baseline's span-1 data under
    # the baseline model (not under whichever sibling was printed last).
    for parent, child in (("/tx2", "/ex2"), ("/a", "/ex1"), ("/b", "/tx2"), ("/b", "/a")):
        assert depth[child] > depth[parent], entries
    for parent, child in (("/tx2", "/ex2"), ("/a", "/ex1")):
        assert uris.index(child) == uris.index(parent) + 1, entries


def test_artifacts_seqline_gc_deleted_are_marked(tmp_path, capsys) -> None:
    """`show` marked what gc deleted; lineage printed the same paths as if they were there."""
    _history(tmp_path)
    store = MetadataStore(default_metadata_url(str(tmp_path)))
    store.record_deletion("/ex1", "gc-test")
    store.close()
    assert main(["lineage", "m", "2", "--root", str(tmp_path)]) == 0
    lines = [line.strip() for line in capsys.readouterr().out.splitlines() if " <- " in line]
    (old_span,) = [line for line in lines if line.endswith("by seqline gc)")]
    assert "Examples /ex1  (deleted " in old_span
    assert sum("(deleted" in line for line in lines) == 1
