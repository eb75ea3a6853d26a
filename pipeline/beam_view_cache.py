"""PipelineOptions whose views are built once (imports apache_beam: load it lazily).

Beam builds a fresh argparse parser of every option it knows (hundreds of `add_argument`
calls, about 1 ms) each time anything calls `options.view_as(SomeOptions)`. During graph
construction it does so thousands of times per pipeline: type checking asks
`view_as(TypeOptions).disable_beartype` for every type-hint comparison. bench/beam_setup.py
measured this at roughly a tenth of a small node's set-up time.

A view holds no state of its own: Beam gives it the parent's `_all_options` dict, so every
view of one options object reads and writes the same values. Building each view class once
per options object and handing the same view back is therefore observably the same as
building a new one each time. The cache is per object (each node builds its own options), so
nodes running in parallel threads share nothing; two threads racing on one object at worst
both build the view and one wins, which is the behaviour without the cache.
"""

from __future__ import annotations

from typing import Any, TypeVar

from apache_beam.options.pipeline_options import PipelineOptions

_T = TypeVar("_T", bound=PipelineOptions)
_CACHE = "_seqline_views"


class CachedViewOptions(PipelineOptions):
    """PipelineOptions whose `view_as(cls)` returns one cached view per class.

    Same flags, same values and same parsing as PipelineOptions; only repeated views are
    cheaper. Copies and pickles start with an empty cache.
    """

    def view_as(self, cls: type[_T]) -> _T:
        views: dict[type, Any] | None = self.__dict__.get(_CACHE)
        if views is None:
            views = {}
            # PipelineOptions.__setattr__ accepts only option names and its three fields.
            object.__setattr__(self, _CACHE, views)
        view = views.get(cls)
        if view is None:
            view = super().view_as(cls)
            views[cls] = view
        return view

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        state.pop(_CACHE, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
