"""Atomic, versioned publication of a SavedModel into a TF Serving model directory.

TF Serving watches `{serving_root}/{model_name}/` and loads the integer-named sub-directories as
versions (non-integer names are ignored). A version directory must therefore never be visible
while incomplete:

- Local filesystems: copy into a temporary sibling `.tmp-{version}-{uuid}` (not an integer, so
  TF Serving ignores it), fsync every file and directory, then rename it to `{version}` in one
  atomic step and fsync the parent. A `kill -9` at any moment leaves either no version directory
  or a complete one; the orphaned temporary sibling is removed by the next push. An exclusive
  lock file (`.seqline-push.lock`, ignored by TF Serving) serialises concurrent pushes of the
  same model, so picking `max + 1` and cleaning temporaries never races another pusher.
- Object stores (gs://, s3://, via tf.io.gfile): there is no atomic directory rename and no lock.
  Files are copied into the temporary sibling, then moved into `{version}/` one object at a time
  with `saved_model.pb` last, so a loader never finds the graph before the variables it needs.
  An interrupted move is recognised on the next push by its leftover temporary sibling (which
  names its version) and both are removed. Run one pusher per model name at a time there.

Deleting a version (retention keeps the newest K; a push the server could not load is taken
back) is the mirror image: locally one atomic rename to `.deleting-{version}-{uuid}` hides the
whole version, then its files go; on object stores saved_model.pb goes first. Leftovers of a
killed deletion are removed by the next push.

Provenance marker: a push from the pipeline (component.py) writes
`assets.extra/seqline_push.json` into the temporary copy before it becomes `{version}/`, so every
version it publishes names the model (fingerprint, uri), pipeline, run and node that published
it, atomically with the version itself (TF Serving ignores unknown files in assets.extra; the
warmup file there is `tf_serving_warmup_requests`). If the push is killed after the version
appeared but before the pipeline recorded it, the next push of the same model finds the marker
and adopts that version instead of publishing a duplicate (`adoptable_version`). The rule is
"newest only": only the newest version is adopted, and only if its marker names the same model
fingerprint AND the same content (`content_sha256`, the digest of the files pushed: an
infra_validate copy with warmup records added, or a retrain into a wiped root, has the same
model fingerprint but other files), its saved_model.pb is there, and no deletion ever reached
its number (a take-back killed midway leaves the version with the high-water mark at it); a
model pushed again after another model's version must become a new version (it is a
deliberate re-push, e.g. to serve it again).

Unchanged model (`same_model_version`): a candidate with another model fingerprint (a touched
source reran the pipeline, a seqline upgrade changed code fingerprints) that re-exports the same
trained model is not published again either. Re-exports differ in saved_model.pb bytes and in
fingerprint.pb's checksum and uuid. Three checks, cheapest first, must all match the NEWEST
version (same rules: saved_model.pb there, above the deleted high-water mark): TF's regularized
hashes in fingerprint.pb (graph_def_program_hash, signature_def_hash, saved_object_graph_hash,
read without TensorFlow); every file but saved_model.pb, fingerprint.pb and assets.extra/
byte-identical (variables/, assets/; assets.extra/ holds the marker and warmup records, not the
model); and `program_digest`, the whole saved_model.pb with only export-to-export noise
regularized. The third is needed because TF's graph_def_program_hash clears the function
library before hashing, and in a TF2 SavedModel the serving functions (the TFT graph inside
them too) live there: another constant or op in a signature function leaves all three hashes
equal. When all match, that version is adopted (Published with adopted=True, unchanged=True).
Either side without fingerprint.pb or a readable saved_model.pb, or any difference, publishes as
before; a candidate equal to an older version is published as new. Files are read through
seqline.storage.filesystem, so gs:// / s3:// serving roots behave the same.

Only local paths are handled without TensorFlow; remote paths import it on use.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from seqline.pipeline.artifacts import PushedModel
from seqline.pipeline.errors import DataError
from seqline.serving.version_dirs import scan_versions
from seqline.storage import filesystem

log = logging.getLogger(__name__)

SAVED_MODEL_PB = "saved_model.pb"
# The provenance marker inside each published version (relative to the version directory). Its
# name cannot collide with the warmup file (assets.extra/tf_serving_warmup_requests).
MARKER_FILE = PushedModel.MARKER_FILE
LOCK_FILE = ".seqline-push.lock"
MAX_VERSION = 10**18 - 1  # version directories are 1-18 digits (serving/version_dirs.py)
# Highest version number ever deleted (ignored by TF Serving: not an integer name).
HIGH_WATER_FILE = ".seqline-deleted-max"
TEMP_PREFIX = ".tmp-"
# A temporary sibling created by publish_version: `.tmp-{version}-{32 hex}`. Only names matching
# this exactly are ever deleted, so nothing else in a serving directory is touched.
_TEMP_RE = re.compile(r"^\.tmp-([0-9]+)-([0-9a-f]{32})$")
# A version being deleted (retention, failed push): renamed to `.deleting-{version}-{32 hex}` in
# one atomic step, then removed; a leftover from a killed deletion is removed by the next push.
_DELETING_RE = re.compile(r"^\.deleting-([0-9]+)-([0-9a-f]{32})$")
DELETING_PREFIX = ".deleting-"
# Renaming onto an existing non-empty version directory fails with one of these; we then take
# the next number instead of overwriting a version someone else published.
_EXISTS_ERRNOS = {errno.EEXIST, errno.ENOTEMPTY}
_MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Published:
    """Where a model was published: its integer `version` and the `destination` directory;
    `adopted` is True when no copy was made because the newest version already held this
    model (a push killed before it was recorded published it; see adoptable_version)."""

    version: int
    destination: str
    adopted: bool = False
    # True when adopted because the newest version is the same program and weights (another
    # model fingerprint; see same_model_version), not the same model fingerprint.
    unchanged: bool = False


CONTENT_KEY = "content_sha256"  # the marker's digest of the files pushed (content_digest)
_CHUNK = 1 << 20
FINGERPRINT_PB = "fingerprint.pb"
# FingerprintDef (tensorflow/core/protobuf/fingerprint.proto) fields that are TF's regularized
# hashes of the program: equal for two exports of the same model (unlike field 1,
# saved_model_checksum, and 7, uuid). Field 5 (checkpoint_hash) is left out: variables/ is
# compared byte for byte instead.
_PROGRAM_HASH_FIELDS = (2, 3, 4)  # graph_def_program_hash, signature_def_hash, saved_object_graph
# The files of a SavedModel that are not compared byte for byte when deciding whether it is
# the same model: the program (compared by program_digest; its bytes differ between exports)
# and assets.extra/ (push's marker, infra_validate's warmup records). Everything else, i.e.
# variables/, assets/ (the vocabulary) and any other file (a tf_keras keras_metadata.pb), is.
NOT_MODEL_BYTES = (SAVED_MODEL_PB, FINGERPRINT_PB, "assets.extra/")


def read_marker(version_dir: str) -> dict[str, Any] | None:
    """The provenance marker (MARKER_FILE) of a published version, or None when it has none or
    it is not a JSON object (a version published by hand or by an older seqline)."""
    return PushedModel.read_marker(version_dir)


def _open_binary(path: str) -> Any:
    if filesystem.is_remote(path):
        import tensorflow as tf

        return tf.io.gfile.GFile(path, "rb")
    return open(path.removeprefix("file://"), "rb")


def _skipped(rel: str, skip: tuple[str, ...]) -> bool:
    return rel == MARKER_FILE or any(
        rel == part or (part.endswith("/") and rel.startswith(part)) for part in skip
    )


def _file_digests(saved_model_dir: str, skip: tuple[str, ...] = ()) -> dict[str, bytes]:
    """Relative path -> sha256 of the bytes of every file content_digest covers (skip as
    there), streamed in 1 MiB chunks."""
    root = saved_model_dir
    if not filesystem.is_remote(root):
        root = root.removeprefix("file://")
    root = root.rstrip("/")
    files: dict[str, bytes] = {}
    for rel in _relative_files(root):
        if _skipped(rel, skip):
            continue
        file_digest = hashlib.sha256()
        with _open_binary(filesystem.join(root, rel)) as f:
            while chunk := f.read(_CHUNK):
                file_digest.update(chunk)
        files[rel] = file_digest.digest()
    return files


def _tree_digest(files: Mapping[str, bytes], skip: tuple[str, ...] = ()) -> str:
    """content_digest of the tree whose _file_digests are `files`."""
    digest = hashlib.sha256()
    for rel in sorted(files):
        if not _skipped(rel, skip):
            digest.update(rel.encode("utf-8") + b"\0" + files[rel])
    return digest.hexdigest()


def content_digest(saved_model_dir: str, skip: tuple[str, ...] = ()) -> str:
    """Hex sha256 of a SavedModel directory's content: every file's relative path and bytes,
    in sorted path order, MARKER_FILE excluded (so a published version digests like its
    source). Files are streamed in 1 MiB chunks; a file's bytes enter as their own sha256
    after its path, so no two trees share a digest by shifting bytes between files.
    `skip`: leave out these relative paths, and the folders among them (ending in "/") whole
    (e.g. NOT_MODEL_BYTES)."""
    return _tree_digest(_file_digests(saved_model_dir, skip))


def _newest_servable(model_dir: str) -> tuple[int, str] | None:
    """(number, directory) of the newest version of `model_dir` if it has saved_model.pb and
    its number is above the deleted high-water mark (a take-back or retention killed after
    writing the mark but before removing the version must not have it served again); else
    None. The versions push may adopt instead of publishing."""
    versions = integer_versions(model_dir)
    if not versions or versions[-1] <= _deleted_high_water(model_dir):
        return None
    destination = filesystem.join(model_dir, str(versions[-1]))
    if not filesystem.exists(filesystem.join(destination, SAVED_MODEL_PB)):
        return None
    return versions[-1], destination


def adoptable_version(
    model_dir: str, model_fingerprint: str, content_sha256: str | None = None
) -> Published | None:
    """The newest version of `model_dir` if it is a complete publication of exactly this
    model, else None: its marker names `model_fingerprint` and `content_sha256` (the
    content_digest of the source being pushed; None never adopts), saved_model.pb is there,
    and its number is above the deleted high-water mark (a take-back or retention killed after
    writing the mark but before removing the version must not have it served again).

    Only the newest version is considered: if another model was published after it, a push of
    this model is a deliberate re-push and takes a new version."""
    if not model_fingerprint or not content_sha256:
        return None
    found = _newest_servable(model_dir)
    if found is None:
        return None
    newest, destination = found
    marker = read_marker(destination)
    if (
        marker is None
        or marker.get("model_fingerprint") != model_fingerprint
        or marker.get(CONTENT_KEY) != content_sha256
    ):
        return None
    return Published(version=newest, destination=destination, adopted=True)


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _scalar_fields(data: bytes) -> dict[int, int]:
    """Field number -> value of the varint fields of a serialized protobuf message (other
    fields skipped); ValueError if it is not well-formed. Enough for FingerprintDef, whose
    hashes are uint64 fields, without importing TensorFlow."""
    fields: dict[int, int] = {}
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            fields[number], pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            pos += length
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if pos > len(data):
            raise ValueError("truncated field")
    return fields


def program_hashes(saved_model_dir: str) -> tuple[int, ...] | None:
    """TF's regularized program hashes (graph_def_program_hash, signature_def_hash,
    saved_object_graph_hash) from the SavedModel's fingerprint.pb, or None when it has none,
    it does not parse, or a hash is missing (0: an older TensorFlow wrote it)."""
    path = filesystem.join(saved_model_dir, FINGERPRINT_PB)
    try:
        if not filesystem.exists(path):
            return None
        with _open_binary(path) as f:
            data = f.read()
        fields = _scalar_fields(bytes(data))
    except (OSError, ValueError):
        return None
    hashes = tuple(fields.get(number, 0) for number in _PROGRAM_HASH_FIELDS)
    return hashes if all(hashes) else None


_CALL_OPS = ("PartitionedCall", "StatefulPartitionedCall")
# A name for humans (an argument's Python name, a capture's tensor id), not the program.
_NAME_ATTR = "_user_specified_name"
# Node attributes that name, not compute: `shared_name` of a lookup table holds a uuid, the
# vocabulary's temporary path and load counters, new in every export.
_NOISE_ATTRS = (_NAME_ATTR, "shared_name")


def _canonical_function_names(saved_model: Any, to_text: Any) -> dict[str, str]:
    """Library function name -> a name that two exports of the same program agree on: its
    name without the UID suffix, then the sha256 of its definition with the functions it calls
    renamed the same way (callees first). Functions left in a call cycle keep their name (the
    digests then differ: published, never wrongly adopted)."""
    bodies: dict[str, tuple[str, str]] = {}
    for meta_graph in saved_model.meta_graphs:
        for function in meta_graph.graph_def.library.function:
            name = function.signature.name
            stem, _, uid = name.rpartition("_")
            body = type(function)()
            body.CopyFrom(function)
            body.signature.name = ""
            bodies[name] = (stem if stem and uid.isdigit() else name, to_text(body))
    calls = {
        name: {word for word in re.findall(r"\w+", text) if word in bodies and word != name}
        for name, (_stem, text) in bodies.items()
    }
    canonical: dict[str, str] = {}
    while len(canonical) < len(bodies):
        ready = [n for n in bodies if n not in canonical and calls[n] <= canonical.keys()]
        if not ready:
            break
        for name in ready:
            stem, text = bodies[name]
            text = re.sub(r"\w+", lambda match: canonical.get(match[0], match[0]), text)
            canonical[name] = f"{stem}#{hashlib.sha256(text.encode()).hexdigest()[:16]}"
    return canonical


def program_digest(saved_model_dir: str) -> str | None:
    """Hex sha256 of the program in the SavedModel's saved_model.pb: every meta graph whole
    (graph nodes, the function library, signatures, the object graph, saver), with what differs
    between two exports of one program regularized as TensorFlow does for fingerprint.pb:
    function names' UID suffixes (a process-wide counter) are replaced by a digest of the
    function's definition (_canonical_function_names), call nodes' config_proto (the
    exporting host's devices) is cleared, and so are `_user_specified_name` (argument names; a
    capture's is a process-wide tensor id) and `shared_name` (a lookup table's holds a uuid
    and a temporary path).
    Unlike graph_def_program_hash, the function library is kept: in a TF2 SavedModel it IS the
    serving program (TF clears it before hashing, tensorflow/core/graph/regularization/
    simple_delete.cc), so a changed constant or op in a signature function (or in the TFT
    graph inside it) changes this digest. None when saved_model.pb cannot be read or parsed.
    Imports TensorFlow (for its protos); only called once the cheaper checks matched."""
    try:
        import tensorflow as tf
        from google.protobuf import text_format
        from google.protobuf.message import DecodeError
        from tensorflow.core.protobuf import saved_model_pb2
    except ImportError:
        return None
    saved_model = saved_model_pb2.SavedModel()
    try:
        with _open_binary(filesystem.join(saved_model_dir, SAVED_MODEL_PB)) as f:
            saved_model.ParseFromString(bytes(f.read()))
    except (OSError, tf.errors.OpError, DecodeError):
        return None
    for meta_graph in saved_model.meta_graphs:
        library = meta_graph.graph_def.library
        for nodes in [meta_graph.graph_def.node, *(f.node_def for f in library.function)]:
            for node in nodes:
                if node.op in _CALL_OPS and "config_proto" in node.attr:
                    node.attr["config_proto"].s = b""
                for attr in _NOISE_ATTRS:
                    node.attr.pop(attr, None)
        for function in library.function:
            for arg in function.arg_attr.values():
                arg.attr.pop(_NAME_ATTR, None)
    canonical = _canonical_function_names(saved_model, text_format.MessageToString)
    for meta_graph in saved_model.meta_graphs:
        library = meta_graph.graph_def.library
        # Containers whose text order follows the names: reordered by the canonical names.
        functions = sorted(
            library.function, key=lambda f: canonical.get(f.signature.name, f.signature.name)
        )
        gradients = sorted(
            library.gradient, key=lambda g: canonical.get(g.function_name, g.function_name)
        )
        kept_functions = [type(f)() for f in functions]
        for copy, function in zip(kept_functions, functions, strict=True):
            copy.CopyFrom(function)
        kept_gradients = [type(g)() for g in gradients]
        for copy, gradient in zip(kept_gradients, gradients, strict=True):
            copy.CopyFrom(gradient)
        del library.function[:]
        library.function.extend(kept_functions)
        del library.gradient[:]
        library.gradient.extend(kept_gradients)
        concrete = meta_graph.object_graph_def.concrete_functions
        entries = {canonical.get(key, key): type(value)() for key, value in concrete.items()}
        for key, value in concrete.items():
            entries[canonical.get(key, key)].CopyFrom(value)
        concrete.clear()
        for key, value in entries.items():
            concrete[key].CopyFrom(value)
    text = text_format.MessageToString(saved_model)
    # Every other mention (call nodes' "f", the object graph's function lists, gradients): one
    # pass over the words of the text with a dict lookup (an alternation of hundreds of names
    # would be tried at every character); a name that is not one word keeps its UID, so the
    # two digests differ and the model is published, never wrongly adopted.
    text = re.sub(r"\w+", lambda match: canonical.get(match[0], match[0]), text)
    return hashlib.sha256(text.encode()).hexdigest()


def same_model_version(
    model_dir: str, saved_model_dir: str, mine_files: Mapping[str, bytes] | None = None
) -> Published | None:
    """_same_model_version, or None (publish as before) when the comparison itself fails: a
    file of the newest version unreadable or removed by hand midway, an object store error.
    The check only saves a duplicate version, so it must never be why a push fails."""
    try:
        return _same_model_version(model_dir, saved_model_dir, mine_files)
    except Exception as exc:  # noqa: BLE001 — any failure means "not comparable"
        log.warning(
            "could not compare the model with the newest version in %s (%s: %s); publishing "
            "a new version",
            model_dir,
            type(exc).__name__,
            exc,
        )
        return None


def _same_model_version(
    model_dir: str, saved_model_dir: str, mine_files: Mapping[str, bytes] | None
) -> Published | None:
    """The newest version of `model_dir` if it holds the same model as `saved_model_dir`
    under another export: equal program_hashes (both fingerprint.pb files present), the same
    bytes in every file but NOT_MODEL_BYTES (content_digest), and an equal program_digest
    (the serving functions, which program_hashes leave out); it must have saved_model.pb and be
    above the deleted high-water mark, as for adoptable_version. Else None. Only the newest
    version counts: a model equal to an older one (rolled back from) is published as new.
    `mine_files`: `saved_model_dir`'s _file_digests when the push already read them (for the
    marker's CONTENT_KEY), so its files are not read twice."""
    found = _newest_servable(model_dir)
    if found is None:
        return None
    newest, destination = found
    mine = program_hashes(saved_model_dir)
    if mine is None or program_hashes(destination) != mine:
        return None
    if mine_files is None:
        mine_files = _file_digests(saved_model_dir, NOT_MODEL_BYTES)
    if _tree_digest(mine_files, NOT_MODEL_BYTES) != content_digest(destination, NOT_MODEL_BYTES):
        return None
    # The fingerprint.pb hashes leave out the function library (the TF2 serving program):
    # they are only the cheap first check.
    mine_program = program_digest(saved_model_dir)
    if mine_program is None or program_digest(destination) != mine_program:
        return None
    return Published(version=newest, destination=destination, adopted=True, unchanged=True)


def _adopt(
    model_dir: str,
    saved_model_dir: str,
    marker: Mapping[str, Any] | None,
    mine_files: Mapping[str, bytes] | None,
) -> Published | None:
    """The version a push with `marker` adopts instead of publishing (adoptable_version, else
    same_model_version), or None; never adopts without a marker."""
    if marker is None:
        return None
    return adoptable_version(
        model_dir, str(marker.get("model_fingerprint") or ""), marker.get(CONTENT_KEY)
    ) or same_model_version(model_dir, saved_model_dir, mine_files)


def _marker_text(marker: Mapping[str, Any]) -> str:
    return json.dumps(dict(marker), indent=2, sort_keys=True, default=str) + "\n"


def integer_versions(model_dir: str) -> list[int]:
    """Sorted integer version numbers present in `model_dir` ([] if it does not exist).

    Every integer-named entry counts, complete or not, so a number is never reused.
    """
    return scan_versions(model_dir)


def _deleted_high_water(model_dir: str) -> int:
    """The highest version ever deleted from `model_dir` (0 if none), from HIGH_WATER_FILE."""
    path = filesystem.join(model_dir, HIGH_WATER_FILE)
    if not filesystem.exists(path):
        return 0
    text = filesystem.read_text(path).strip()
    return int(text) if text.isdigit() else 0


def next_version(model_dir: str) -> int:
    """One more than the highest version that exists or was ever deleted (a version a server
    refused and push took back is not reused: the server may still report its old failure),
    or 1 for the first push."""
    versions = integer_versions(model_dir)
    highest = max(versions[-1] if versions else 0, _deleted_high_water(model_dir))
    if highest + 1 > MAX_VERSION:
        # A 19-digit directory would be published but never seen (version directories are
        # 1-18 digits here, so they fit int64 everywhere), and every later push would fail.
        raise DataError(
            f"{model_dir}: the next version would be {highest + 1}, over the largest version "
            f"number {MAX_VERSION}; move the model to a new model_name (or base path) or "
            "renumber its versions"
        )
    return highest + 1


def stale_temporaries(model_dir: str) -> list[tuple[str, int]]:
    """(name, version) of every temporary sibling left by an interrupted publish_version."""
    if not filesystem.exists(model_dir):
        return []
    found = []
    for name in sorted(filesystem.listdir(model_dir)):
        match = _TEMP_RE.match(name)
        if match:
            found.append((name, int(match.group(1))))
    return found


def clean_stale_temporaries(model_dir: str) -> list[str]:
    """Removes temporaries of interrupted pushes; returns the removed names.

    On object stores an interrupted move may also have left a partial `{version}/` without
    saved_model.pb next to its temporary; that partial version is removed too. A version with
    saved_model.pb was fully moved (the graph moves last) and is kept. Locally the rename is
    atomic, so a version directory is never partial and is never touched.
    """
    removed = []
    for name, version in stale_temporaries(model_dir):
        if filesystem.is_remote(model_dir):
            partial = filesystem.join(model_dir, str(version))
            if filesystem.exists(partial) and not filesystem.exists(
                filesystem.join(partial, SAVED_MODEL_PB)
            ):
                log.warning("removing partially moved version %s left by a killed push", partial)
                filesystem.rmtree(partial)
                removed.append(str(version))
        log.warning("removing %s left by an interrupted push", filesystem.join(model_dir, name))
        filesystem.rmtree(filesystem.join(model_dir, name))
        removed.append(name)
    return removed


def clean_interrupted_deletions(model_dir: str) -> list[str]:
    """Removes `.deleting-*` directories left by a deletion killed midway; returns their names."""
    if not filesystem.exists(model_dir):
        return []
    removed = []
    for name in sorted(filesystem.listdir(model_dir)):
        if _DELETING_RE.match(name):
            log.warning("removing %s left by an interrupted deletion", name)
            filesystem.rmtree(filesystem.join(model_dir, name))
            removed.append(name)
    return removed


def _delete_version_unlocked(model_dir: str, version: int) -> None:
    destination = filesystem.join(model_dir, str(version))
    if not filesystem.exists(destination):
        return
    if version > _deleted_high_water(model_dir):
        filesystem.write_text(filesystem.join(model_dir, HIGH_WATER_FILE), f"{version}\n")
    if filesystem.is_remote(model_dir):
        # No atomic rename on object stores: take the graph away first, so no loader ever
        # finds a saved_model.pb whose variables are half deleted.
        import tensorflow as tf

        pb = filesystem.join(destination, SAVED_MODEL_PB)
        if tf.io.gfile.exists(pb):
            tf.io.gfile.remove(pb)
        filesystem.rmtree(destination)
        return
    # Locally: one atomic rename hides the whole version (a server's next poll unloads it),
    # then the files go. A kill between the two leaves only a `.deleting-*` directory.
    doomed = os.path.join(model_dir, f"{DELETING_PREFIX}{version}-{uuid.uuid4().hex}")
    os.rename(destination, doomed)
    _fsync_dir(model_dir)
    filesystem.rmtree(doomed)


def delete_version(model_dir: str, version: int) -> None:
    """Removes `{model_dir}/{version}` so that no server ever sees a partial version: locally
    by an atomic rename to a hidden name first, on object stores saved_model.pb first."""
    if filesystem.is_remote(model_dir):
        _delete_version_unlocked(model_dir, version)
        return
    model_dir = model_dir.removeprefix("file://")
    with _exclusive_lock(model_dir):
        _delete_version_unlocked(model_dir, version)


def apply_retention(model_dir: str, keep: int, protect: Iterable[int] = ()) -> list[int]:
    """Deletes all but the newest `keep` integer versions, never one in `protect` (versions a
    models.config pins or labels). Returns the deleted versions, oldest first. keep < 1 keeps
    everything."""
    if keep < 1:
        return []
    protected = set(protect)
    local = not filesystem.is_remote(model_dir)
    model_dir = model_dir.removeprefix("file://") if local else model_dir
    lock = _exclusive_lock(model_dir) if local else contextlib.nullcontext()
    deleted = []
    with lock:
        versions = integer_versions(model_dir)
        for version in versions[: max(len(versions) - keep, 0)]:
            if version in protected:
                continue
            _delete_version_unlocked(model_dir, version)
            deleted.append(version)
    return deleted


def _relative_files(saved_model_dir: str) -> list[str]:
    """Relative paths of every file in the SavedModel, saved_model.pb last."""
    root = saved_model_dir.rstrip("/")
    files = [path[len(root) :].lstrip("/") for path in filesystem.walk_files(root)]
    files.sort(key=lambda rel: (rel == SAVED_MODEL_PB, rel))
    return files


# --- local -------------------------------------------------------------------------------------


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_file_local(src: str, dst: str) -> None:
    """Copies one file and fsyncs it, so the rename that publishes it follows durable data."""
    if filesystem.is_remote(src):  # a local serving root fed from a gs:// / s3:// model
        import tensorflow as tf

        opener = tf.io.gfile.GFile
    else:
        opener = open
    with opener(src, "rb") as fin, open(dst, "wb") as fout:
        while chunk := fin.read(1 << 20):
            fout.write(chunk)
        fout.flush()
        os.fsync(fout.fileno())


def _copy_tree_local(src_root: str, dst_root: str) -> None:
    os.makedirs(dst_root)
    directories = {dst_root}
    for rel in _relative_files(src_root):
        dst = os.path.join(dst_root, rel)
        parent = os.path.dirname(dst)
        if parent not in directories:
            os.makedirs(parent, exist_ok=True)
            directories.add(parent)
        _copy_file_local(filesystem.join(src_root, rel), dst)
    # Deepest first, so each directory's entries are durable before its parent's.
    for directory in sorted(directories, key=len, reverse=True):
        _fsync_dir(directory)


@contextlib.contextmanager
def _exclusive_lock(model_dir: str) -> Iterator[None]:
    """Holds an exclusive flock on `{model_dir}/.seqline-push.lock`; the kernel releases it when
    the process dies, so a killed push never blocks the next one."""
    import fcntl

    fd = os.open(os.path.join(model_dir, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _write_marker_local(temp: str, marker: Mapping[str, Any]) -> None:
    """Writes the marker into the temporary copy, durable before the rename publishes it."""
    path = os.path.join(temp, MARKER_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    filesystem.write_text(path, _marker_text(marker))
    _fsync_dir(os.path.dirname(path))
    _fsync_dir(temp)


def _publish_local(
    saved_model_dir: str,
    model_dir: str,
    marker: Mapping[str, Any] | None,
    mine_files: Mapping[str, bytes] | None,
) -> Published:
    os.makedirs(model_dir, exist_ok=True)
    with _exclusive_lock(model_dir):
        clean_stale_temporaries(model_dir)
        clean_interrupted_deletions(model_dir)
        adopted = _adopt(model_dir, saved_model_dir, marker, mine_files)
        if adopted is not None:
            return adopted
        version = next_version(model_dir)
        temp = os.path.join(model_dir, f"{TEMP_PREFIX}{version}-{uuid.uuid4().hex}")
        try:
            _copy_tree_local(saved_model_dir, temp)
            if marker is not None:
                _write_marker_local(temp, marker)
        except BaseException:
            # A failed copy (disk full, bad source) leaves nothing behind; only a killed process
            # leaves a temporary, which the next push removes.
            filesystem.rmtree(temp)
            raise
        for _attempt in range(_MAX_ATTEMPTS):
            destination = os.path.join(model_dir, str(version))
            try:
                os.rename(temp, destination)
            except OSError as exc:
                # Someone outside seqline created this version meanwhile; never overwrite it.
                if exc.errno not in _EXISTS_ERRNOS:
                    raise
                version = next_version(model_dir)
                continue
            _fsync_dir(model_dir)
            return Published(version=version, destination=destination)
        filesystem.rmtree(temp)
    raise OSError(
        f"could not claim a free version number in {model_dir} in {_MAX_ATTEMPTS} attempts; "
        "something else keeps creating version directories there"
    )


# --- object stores -----------------------------------------------------------------------------


def _publish_remote(
    saved_model_dir: str,
    model_dir: str,
    marker: Mapping[str, Any] | None,
    mine_files: Mapping[str, bytes] | None,
) -> Published:
    import tensorflow as tf

    gfile = tf.io.gfile
    gfile.makedirs(model_dir)
    clean_stale_temporaries(model_dir)
    clean_interrupted_deletions(model_dir)
    adopted = _adopt(model_dir, saved_model_dir, marker, mine_files)
    if adopted is not None:
        return adopted
    version = next_version(model_dir)
    temp = filesystem.join(model_dir, f"{TEMP_PREFIX}{version}-{uuid.uuid4().hex}")
    files = _relative_files(saved_model_dir)
    for rel in files:
        target = filesystem.join(temp, rel)
        gfile.makedirs(target.rsplit("/", 1)[0])
        gfile.copy(filesystem.join(saved_model_dir, rel), target, overwrite=True)
    if marker is not None:
        target = filesystem.join(temp, MARKER_FILE)
        gfile.makedirs(target.rsplit("/", 1)[0])
        with gfile.GFile(target, "w") as f:
            f.write(_marker_text(marker))
        if MARKER_FILE not in files:
            files.insert(len(files) - 1, MARKER_FILE)  # moved before saved_model.pb
    destination = filesystem.join(model_dir, str(version))
    if gfile.exists(destination):
        raise OSError(
            f"version {destination} appeared while pushing; another pusher is writing this model "
            "(run one pusher per model name on object stores)"
        )
    # Object by object, graph last: a reader that sees saved_model.pb sees everything else.
    for rel in files:
        target = filesystem.join(destination, rel)
        gfile.makedirs(target.rsplit("/", 1)[0])
        gfile.rename(filesystem.join(temp, rel), target, overwrite=False)
    filesystem.rmtree(temp)
    return Published(version=version, destination=destination)


def publish_version(
    saved_model_dir: str, model_dir: str, marker: Mapping[str, Any] | None = None
) -> Published:
    """Publishes the SavedModel at `saved_model_dir` as the next integer version in `model_dir`.

    Args:
        saved_model_dir: a directory with saved_model.pb (and usually variables/, assets/).
        model_dir: `{serving_root}/{model_name}`; created if missing. Local or gs:// / s3://.
        marker: provenance (JSON-serialisable; must include "model_fingerprint") written to
            `{version}/assets.extra/seqline_push.json` atomically with the version, with
            CONTENT_KEY (content_digest of `saved_model_dir`, computed here unless given) added.
            When given and the newest version is adoptable (its marker names the same model
            fingerprint and content digest, it has saved_model.pb, and it is above the deleted
            high-water mark; see adoptable_version), that version is returned with
            adopted=True and nothing is copied; likewise when the newest version is the same
            program and weights under another export (see same_model_version; then also
            unchanged=True). Default None: no marker, never adopts.

    Returns:
        Published(version, destination, adopted) with destination `{model_dir}/{version}`.

    Raises:
        FileNotFoundError: if `saved_model_dir` has no saved_model.pb.
    """
    if not filesystem.exists(filesystem.join(saved_model_dir, SAVED_MODEL_PB)):
        raise FileNotFoundError(f"no {SAVED_MODEL_PB} in {saved_model_dir}")
    mine_files = None
    if marker is not None and not marker.get(CONTENT_KEY):
        # Once per push: the marker carries it into the version, and adoption compares it
        # (same_model_version its per-file digests).
        mine_files = _file_digests(saved_model_dir)
        marker = {**marker, CONTENT_KEY: _tree_digest(mine_files)}
    # The destination decides: a local serving root gets the atomic rename even when the model
    # itself lives on an object store.
    if filesystem.is_remote(model_dir):
        return _publish_remote(saved_model_dir, model_dir, marker, mine_files)
    return _publish_local(
        saved_model_dir.removeprefix("file://"),
        model_dir.removeprefix("file://"),
        marker,
        mine_files,
    )
