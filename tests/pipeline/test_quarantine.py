"""pipeline/quarantine.py: the rejected-record contract shared by the ingest components."""

from __future__ import annotations

import json

import pytest

from seqline.pipeline import quarantine
from seqline.pipeline.errors import DataError


def test_rejection_to_json_is_the_rejected_file_line() -> None:
    rejection = quarantine.Rejection("a.csv", 3, "bad", "it is bad", "x,y")
    assert rejection.to_json() == {
        "source": "a.csv", "position": 3, "reason": "bad", "message": "it is bad",
        "record": "x,y",
    }  # fmt: skip


def test_record_text_keeps_text_reprs_undecodable_bytes_and_cuts_long_records() -> None:
    assert quarantine.record_text("café", 100) == "café"
    assert quarantine.record_text(b"caf\xc3\xa9", 100) == "café"
    assert quarantine.record_text(b"caf\xe9", 100) == "b'caf\\xe9'"
    assert quarantine.record_text("caf\udce9", 100) == "b'caf\\xe9'"
    assert quarantine.record_text("x" * 12, 10) == "x" * 10 + "...[2 more characters]"
    assert quarantine.record_text("x" * 10, 10) == "x" * 10


def test_has_surrogates_finds_undecodable_bytes_only() -> None:
    assert quarantine.has_surrogates(b"a\xff".decode("utf-8", "surrogateescape"))
    assert not quarantine.has_surrogates("naïve ✓")


def test_rejected_properties_sort_reasons_most_frequent_first_then_by_code() -> None:
    props = quarantine.rejected_properties(6, {"b": 1, "c": 3, "a": 1, "d": 1})
    assert props == {"count": 6, "by_reason": {"c": 3, "a": 1, "b": 1, "d": 1}}
    assert list(props["by_reason"]) == ["c", "a", "b", "d"]


def test_check_conservation_passes_when_counts_add_up_and_names_the_gap_otherwise() -> None:
    quarantine.check_conservation("ingest_x", "rows", 5, 3, 2, "points {}")
    with pytest.raises(RuntimeError) as err:
        quarantine.check_conservation("ingest_x", "rows", 5, 3, 1, "points {'train': 3}")
    assert str(err.value) == (
        "ingest_x lost track of rows: input 5 != accepted 3 + rejected 1 (points "
        "{'train': 3}); please report this bug with the source files"
    )


def test_top_reasons_lists_at_most_five_or_none() -> None:
    by_reason = {f"r{i}": 10 - i for i in range(7)}
    assert quarantine.top_reasons(by_reason) == "r0: 10, r1: 9, r2: 8, r3: 7, r4: 6"
    assert quarantine.top_reasons({}) == "none"


def test_reject_ratio_error_allows_the_ratio_exactly_and_explains_above_it() -> None:
    common = {
        "by_reason": {"bad": 1},
        "where": "rejected rows are in /r",
        "samples": ['{"reason": "bad"}'],
        "fix": "fix it",
    }
    assert (
        quarantine.reject_ratio_error(
            "ingest_x", "rows", n_input=4, rejected=1, max_reject_ratio=0.25, **common
        )
        is None
    )
    assert (
        quarantine.reject_ratio_error(
            "ingest_x", "rows", n_input=0, rejected=0, max_reject_ratio=0.0, **common
        )
        is None
    )
    error = quarantine.reject_ratio_error(
        "ingest_x", "rows", n_input=3, rejected=1, max_reject_ratio=0.25, **common
    )
    assert isinstance(error, DataError)
    assert str(error) == (
        "ingest_x: expected at most 25.00% rejected rows, got 1 of 3 (33.33%); top reasons: "
        'bad: 1; rejected rows are in /r\n  {"reason": "bad"}\nfix it'
    )


def test_nothing_accepted_error_gives_counts_reasons_and_fix() -> None:
    error = quarantine.nothing_accepted_error(
        "ingest_x", "row", counted="input 2, rejected 2", by_reason={"bad": 2},
        where="rejected rows are in /r", samples=(), fix="fix the data",
    )  # fmt: skip
    assert str(error) == (
        "ingest_x: expected at least one valid row, got none (input 2, rejected 2); top "
        "reasons: bad: 2; rejected rows are in /r\nfix the data"
    )


def _write_rejected(folder, lines: list[str]) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rejected-00000-of-00001.jsonl").write_text("".join(f"{x}\n" for x in lines))
    (folder / "notes.txt").write_text("not a rejection\n")
    return str(folder)


def test_sample_rejections_reads_the_first_jsonl_lines_cut_to_300_chars(tmp_path) -> None:
    uri = _write_rejected(tmp_path / "rejected", ["a", "b" * 301, "c", "d"])
    assert quarantine.sample_rejections(uri) == ["a", "b" * 300 + "...", "c"]
    assert quarantine.sample_rejections(uri, n=1) == ["a"]
    assert quarantine.sample_rejections(str(tmp_path / "missing")) == []


def test_enforce_with_samples_passes_the_first_rejected_lines(tmp_path) -> None:
    uri = _write_rejected(tmp_path / "rejected", [json.dumps({"reason": "bad"}), "x"])
    seen: list[list[str]] = []
    quarantine.enforce_with_samples(uri, lambda samples: seen.append(list(samples)))
    assert seen == [['{"reason": "bad"}', "x"]]

    def enforce(samples) -> None:
        raise DataError("too many rejected")

    with pytest.raises(DataError, match="too many rejected"):
        quarantine.enforce_with_samples(uri, enforce)
