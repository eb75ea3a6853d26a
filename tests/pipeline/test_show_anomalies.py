"""`seqline show` lists the anomalies validate let through, not only their count: a run that
went on with warnings says which features and splits they were on and where the report is."""

from __future__ import annotations

from seqline.pipeline.metadata import MetadataStore, default_metadata_url
from seqline.pipeline.report import run_details
from tests.pipeline.metadata_records import record_execution

JSD = "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH"


def _show(tmp_path, properties) -> str:
    store = MetadataStore(default_metadata_url(str(tmp_path)))
    store.start_run("run-1", "p")
    uri = str(tmp_path / "validate" / "anomalies" / "fp")
    record_execution(
        store, "run-1", "validate", {}, {"anomalies": ("ExampleAnomalies", uri, properties)}
    )
    return run_details(store, "run-1")


def test_accepted_warnings_are_listed_with_the_report_path(tmp_path) -> None:
    found = [f"{JSD} text (serving vs train)", "SCHEMA_NEW_COLUMN extra (eval)"]
    details = _show(tmp_path, {"blocking": 0, "warnings": 2, "anomalies": found})
    assert f"- warning: {JSD} text (serving vs train)" in details
    assert "- warning: SCHEMA_NEW_COLUMN extra (eval)" in details
    assert f"report: {tmp_path}/validate/anomalies/fp/report.txt" in details


def test_a_long_list_is_cut_with_the_count_left(tmp_path) -> None:
    found = [f"SCHEMA_NEW_COLUMN f{i} (train)" for i in range(13)]
    details = _show(tmp_path, {"blocking": 0, "warnings": 13, "anomalies": found})
    assert "- warning: SCHEMA_NEW_COLUMN f9 (train)" in details
    assert "f10 (train)" not in details
    assert "- ... and 3 more" in details


def test_no_anomalies_add_no_lines(tmp_path) -> None:
    details = _show(tmp_path, {"blocking": 0, "warnings": 0, "anomalies": []})
    assert "warning:" not in details and "report:" not in details
