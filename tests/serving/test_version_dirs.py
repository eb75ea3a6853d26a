"""The shared version-directory scanner: what counts as a version under a model's base path."""

from __future__ import annotations

from pathlib import Path

from seqline.serving.version_dirs import scan_versions, version_entries, version_of


def test_version_of_accepts_decimal_names_only():
    assert version_of("12") == 12
    assert version_of("12/") == 12  # gfile listings of object stores end directories with '/'
    assert version_of("007") == 7
    assert version_of("9" * 18) == int("9" * 18)
    for name in ("", "-1", "1.5", "v1", " 1", "1 ", ".tmp-3-" + "a" * 32, "9" * 19, "١٢"):
        assert version_of(name) is None, name


def test_version_entries_drops_temporaries_and_sorts():
    names = [".tmp-4-" + "0" * 32, "10/", ".deleting-2-" + "f" * 32, "3", ".seqline-deleted-max"]
    assert version_entries(names) == {3: "3", 10: "10"}


def _version(base: Path, name: str, complete: bool) -> None:
    (base / name).mkdir(parents=True)
    if complete:
        (base / name / "saved_model.pb").write_bytes(b"")


def test_scan_versions_counts_partial_dirs_unless_complete_only(tmp_path):
    _version(tmp_path, "1", complete=True)
    _version(tmp_path, "2", complete=False)  # a copy in progress
    _version(tmp_path, ".tmp-3-" + "a" * 32, complete=True)
    (tmp_path / "4").write_text("a stray file with a version name")
    assert scan_versions(str(tmp_path)) == [1, 2, 4]
    assert scan_versions(str(tmp_path), complete_only=True) == [1]


def test_scan_versions_of_a_missing_base_path_is_empty(tmp_path):
    assert scan_versions(str(tmp_path / "absent")) == []
    assert scan_versions(str(tmp_path / "absent"), complete_only=True) == []
