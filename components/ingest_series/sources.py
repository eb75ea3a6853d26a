"""Which files a config reads, their identity for the cache, and the pre-run check.

Runs before any Beam pipeline (and on fully cached runs): the standard library for local
paths, TensorFlow's gfile only for gs:// / s3:// sources, pyarrow only to read a Parquet
schema (its footer, not the data).
"""

from __future__ import annotations

import logging

from seqline.components.ingest_series.config import IngestSeriesConfig
from seqline.pipeline import data_sources
from seqline.pipeline.compressed_input import with_compression
from seqline.pipeline.errors import ConfigError
from seqline.pipeline.record_size import DEFAULT_MAX_RECORD_BYTES
from seqline.pipeline.spans import SpanFiles, has_span_pattern, span_files

log = logging.getLogger(__name__)

# Files a directory source contributes, by format: CSV plain or compressed in any format the
# readers decompress (pipeline/compressed_input.py); Parquet compresses inside the file.
EXTENSIONS: dict[str, tuple[str, ...]] = {
    "csv": with_compression((".csv",)),
    "parquet": (".parquet", ".pq"),
}


def resolve_source(config: IngestSeriesConfig) -> SpanFiles:
    """The files `config` reads, sorted, and the spans they come from: `source` is a file, a
    glob, or a directory (its files with the format's extensions, see EXTENSIONS; not
    recursive, hidden files skipped), or a span pattern (pipeline/spans.py; `spans` empty
    otherwise). Raises ConfigError when there are none."""
    source = config.source
    extensions = EXTENSIONS[config.format]
    if has_span_pattern(source):
        return span_files(source, config.spans, extensions, config.format)
    files = data_sources.match_files(source, extensions)
    if not files:
        raise ConfigError(
            f"source: expected a {config.format} file, a glob, or a folder of "
            f"{'/'.join(extensions)} files, got {source!r} which matches no file; check the "
            "path (relative paths are resolved against the pipeline config's folder) and format"
        )
    return SpanFiles(tuple(files), ())


def source_fingerprint(config: IngestSeriesConfig) -> str:
    """Identity of the data: sha256 over each matched file's path, size and mtime. New,
    removed, resized or touched files give a new fingerprint."""
    return data_sources.files_fingerprint(resolve_source(config).files)


def read_header(path: str, fmt: str, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> list[str]:
    """Column names of a CSV (its header row, stripped; [] when empty) or a Parquet file (from
    its footer). Raises ConfigError for a file that cannot be read as that format."""
    if fmt == "parquet":
        import pyarrow.parquet as pq  # noqa: PLC0415

        try:
            with data_sources.open_binary(path) as handle:
                return list(pq.read_schema(handle).names)
        except Exception as err:  # ArrowInvalid / OSError for a file that is not Parquet
            raise ConfigError(
                f"source: expected Parquet files, got {path} which pyarrow cannot read ({err}); "
                "set format: csv for CSV files"
            ) from err
    return data_sources.read_csv_header(path, max_record_bytes)


def check_source(config: IngestSeriesConfig) -> None:
    """Pre-run check: the source matches files and their headers have the configured columns,
    each named once (a cheap read of the first record / the Parquet footer of every local
    file; see data_sources.header_check_files). Logs a warning naming the files of a folder
    source that are not read (other extensions). Raises ConfigError naming the file."""
    needed = config.required_columns()
    note = data_sources.unread_folder_note(config.source, EXTENSIONS[config.format])
    if note:
        log.warning("ingest_series: %s", note)
    for path in data_sources.header_check_files(resolve_source(config).files):
        header = read_header(path, config.format, config.max_record_bytes)
        if not header and config.format == "csv":
            continue  # an empty file holds no row
        missing = [c for c in needed if c not in header]
        if missing:
            raise ConfigError(
                f"timestamp_column/targets/covariates/series_id_column: expected columns "
                f"{needed} in {path}, got {header} (missing {missing}); set these fields to "
                "the file's column names"
            )
        repeated = data_sources.repeated_columns_problem(header, needed)
        if repeated:
            raise ConfigError(
                f"timestamp_column/targets/covariates/series_id_column: expected each "
                f"configured column once in {path}, got: {repeated}"
            )
