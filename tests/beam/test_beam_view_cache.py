"""CachedViewOptions (pipeline/beam_view_cache.py): the options every node's pipeline gets.

Its views must behave exactly like Beam's own (same values, writes shared by every view),
copies and pickles must carry the values but not the cache, and a pipeline built on it must
run. The saving itself is a figure printed by bench/beam_setup.py, not asserted here.
"""

from __future__ import annotations

import copy
import pickle
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("apache_beam")

import apache_beam as beam  # noqa: E402
from apache_beam.options.pipeline_options import (  # noqa: E402
    DebugOptions,
    DirectOptions,
    PipelineOptions,
    StandardOptions,
    TypeOptions,
)
from apache_beam.testing.util import assert_that, equal_to  # noqa: E402

from seqline.pipeline.beam_options import make_pipeline_options  # noqa: E402
from seqline.pipeline.beam_view_cache import CachedViewOptions  # noqa: E402

FLAGS = ["--direct_num_workers=2", "--experiments=a", "--experiments=b", "--no_pipeline_type_check"]
VIEWS = (StandardOptions, DirectOptions, DebugOptions, TypeOptions)


def test_views_hold_the_same_values_as_beams_own() -> None:
    cached, plain = make_pipeline_options(FLAGS), PipelineOptions(FLAGS + ["--runner=FnApiRunner"])
    assert isinstance(cached, CachedViewOptions)
    for cls in VIEWS:
        assert cached.view_as(cls).get_all_options() == plain.view_as(cls).get_all_options()
    assert cached.view_as(DebugOptions).experiments == ["a", "b"]
    assert cached.view_as(TypeOptions).pipeline_type_check is False
    assert cached.get_all_options() == plain.get_all_options()


def test_a_view_is_built_once_and_writes_reach_every_view() -> None:
    options = make_pipeline_options()
    view = options.view_as(StandardOptions)
    assert options.view_as(StandardOptions) is view
    view.streaming = True
    assert options.view_as(StandardOptions).streaming is True
    assert options.get_all_options()["streaming"] is True
    # A view of another class built afterwards still reads the shared values.
    options.view_as(DebugOptions).add_experiment("x")
    assert options.view_as(DebugOptions).experiments == ["x"]
    assert options.get_all_options()["experiments"] == ["x"]


@pytest.mark.parametrize("clone", [copy.deepcopy, lambda o: pickle.loads(pickle.dumps(o))])
def test_copies_keep_the_values_and_start_with_an_empty_cache(clone) -> None:
    options = make_pipeline_options(FLAGS)
    options.view_as(StandardOptions).streaming = True
    copied = clone(options)
    assert isinstance(copied, CachedViewOptions)
    assert "_seqline_views" not in copied.__dict__
    assert copied.view_as(StandardOptions).streaming is True
    assert copied.view_as(StandardOptions) is not options.view_as(StandardOptions)
    # The copy's values are its own, as with Beam's PipelineOptions.
    copied.view_as(StandardOptions).streaming = False
    assert options.view_as(StandardOptions).streaming is True


def test_views_from_many_threads_agree() -> None:
    options = make_pipeline_options(FLAGS)
    with ThreadPoolExecutor(8) as pool:
        views = list(pool.map(lambda _: options.view_as(DirectOptions), range(32)))
    assert {v.direct_num_workers for v in views} == {2}
    assert all(v._all_options is options._all_options for v in views)


def test_a_pipeline_on_cached_options_runs_and_keeps_caching() -> None:
    with beam.Pipeline(options=make_pipeline_options()) as pipeline:
        # Beam deep-copies the options: the pipeline's own copy caches its views too.
        own = pipeline.options
        assert isinstance(own, CachedViewOptions)
        assert own.view_as(TypeOptions) is own.view_as(TypeOptions)
        squares = pipeline | beam.Create([1, 2, 3]) | beam.Map(lambda x: x * x)
        assert_that(squares, equal_to([1, 4, 9]))
