"""What an artifact directory held when it was published, so a cache hit can tell it is intact.

    write_manifest(directory)    records every file's relative path and size
    damage(directory)            what is missing or changed since then ([] = intact)

A cache hit reuses a published artifact by its fingerprint; a file deleted or truncated in it
afterwards (by hand, a cleanup job, a full disk) would otherwise be trusted, and the failure
would surface in a later node with advice (re-run the producer) that a cache hit ignores. The
runner re-executes a node whose outputs are damaged (pipeline/runner.py). An artifact
published before manifests existed has none and is trusted as before. Sizes are compared on
local roots; on object stores only presence (a listing, no request per file).
"""

from __future__ import annotations

import json
import os

from seqline.storage import filesystem

MANIFEST_FILE = ".seqline-files.json"
_NOT_LISTED = {MANIFEST_FILE, "artifact.json"}  # written around the manifest by the publisher


def _files(directory: str) -> dict[str, int]:
    """{relative path: size (-1 on object stores)} of the files below `directory`."""
    root = directory.rstrip("/")
    remote = filesystem.is_remote(root)
    found = {}
    for path in filesystem.walk_files(root):
        relative = path[len(root) :].lstrip("/")
        if relative in _NOT_LISTED:
            continue
        found[relative] = -1 if remote else os.path.getsize(path)
    return found


def write_manifest(directory: str) -> None:
    """Writes the manifest of `directory` (call after its content is complete)."""
    filesystem.write_text(
        filesystem.join(directory, MANIFEST_FILE), json.dumps(_files(directory), sort_keys=True)
    )


def damage(directory: str) -> list[str]:
    """What differs from the manifest: "missing: PATH" / "size changed: PATH (N -> M bytes)",
    at most 5 entries; [] when intact or when there is no manifest."""
    path = filesystem.join(directory, MANIFEST_FILE)
    if not filesystem.exists(path):
        return []
    try:
        recorded = json.loads(filesystem.read_text(path))
    except (OSError, ValueError):
        return [f"unreadable: {MANIFEST_FILE}"]
    present = _files(directory)
    problems = []
    for relative, size in sorted(recorded.items()):
        if relative not in present:
            problems.append(f"missing: {relative}")
        elif size >= 0 and present[relative] >= 0 and present[relative] != size:
            problems.append(f"size changed: {relative} ({size} -> {present[relative]} bytes)")
    return problems[:5]
