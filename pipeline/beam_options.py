"""The one place that builds Beam pipeline options.

Default runner: FnApiRunner, in memory. Beam 2.77's default local runner (Prism) first tries to
download a binary from the internet with no timeout; FnApiRunner never downloads anything and
honours --direct_num_workers. Any other Beam argument passes through unchanged, so
`--runner=DataflowRunner --project=...` or `--runner=PortableRunner --job_endpoint=...` work.

The options object caches its views (pipeline/beam_view_cache.py): Beam otherwise re-builds
its whole argument parser on every `view_as`, thousands of times per pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

DEFAULT_RUNNER = "FnApiRunner"


def beam_argv(beam_args: Sequence[str], temp_location: str | None = None) -> list[str]:
    """The effective argument list: user args plus defaults they do not override."""
    args = list(beam_args)
    if not any(a == "--runner" or a.startswith("--runner=") for a in args):
        args.append(f"--runner={DEFAULT_RUNNER}")
    if temp_location and not any(a.startswith("--temp_location") for a in args):
        args.append(f"--temp_location={temp_location}")
    return args


def make_pipeline_options(beam_args: Sequence[str] = (), temp_location: str | None = None) -> Any:
    """apache_beam PipelineOptions from `beam_args` (see beam_argv for the defaults), with
    cached views (beam_view_cache.CachedViewOptions: same values, cheaper `view_as`)."""
    from seqline.pipeline.beam_view_cache import CachedViewOptions

    return CachedViewOptions(beam_argv(beam_args, temp_location))
