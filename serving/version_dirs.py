"""The one version-directory scanner: which entries of a model's base path are versions.

A model's base path holds one directory per version, named by a decimal integer as TF Serving
expects (`1/`, `2/`, ...). Everything else there is ignored the same way by every reader: push's
temporaries (`.tmp-3-<hex>`), its deletions in progress (`.deleting-3-<hex>`), the high-water
file, stray files, and names too long for an int64 version (more than 18 digits). push (which
picks the next number), rollback (which lists what a server could load) and the server's model
manager (which loads them) all call this module, so they never disagree on what a version is.

Lists local paths with the standard library and gs:// / s3:// through seqline.storage.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from seqline.storage import filesystem

# At most 18 digits: every such number fits TF Serving's int64 version.
_VERSION_NAME = re.compile(r"^[0-9]{1,18}$")
SAVED_MODEL_FILE = "saved_model.pb"


def version_of(name: str) -> int | None:
    """The version a directory entry names, or None when it is not a version.

    `name` may carry the trailing '/' that gfile listings of object stores add. Leading zeros
    are accepted (`007` is version 7), as TF Serving parses them.
    """
    name = name.rstrip("/")
    return int(name) if _VERSION_NAME.match(name) else None


def version_entries(names: Iterable[str]) -> dict[int, str]:
    """{version: entry name (without a trailing '/')} for the version-named `names`, in version
    order; everything else is dropped. For callers that list the directory themselves."""
    found = {}
    for name in names:
        version = version_of(name)
        if version is not None:
            found[version] = name.rstrip("/")
    return dict(sorted(found.items()))


def scan_versions(base_path: str, *, complete_only: bool = False) -> list[int]:
    """Sorted versions under `base_path` ([] when it does not exist).

    Args:
        base_path: a model's base path, local or gs:// / s3://.
        complete_only: False (the default) counts every version-named entry, complete or not,
            which is what push needs so a number is never reused. True keeps only directories
            holding a saved_model.pb, the versions a server could load.
    """
    if not filesystem.exists(base_path):
        return []
    entries = version_entries(filesystem.listdir(base_path))
    if not complete_only:
        return list(entries)
    return [
        version
        for version, name in entries.items()
        if filesystem.exists(filesystem.join(base_path, name, SAVED_MODEL_FILE))
    ]
