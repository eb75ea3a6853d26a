"""Version discovery, loading, availability-preserving swaps, status, config reloads.

One background thread polls every model's base path each ``file_system_poll_wait_seconds``
(and the config file each ``model_config_file_poll_wait_seconds`` when set). A version is an
integer directory directly under the base path whose saved_model.pb parses; anything else
(``.tmp-3``, ``3.partial``, a half-copied directory) is not a candidate; a saved_model.pb
that does not parse and stays unchanged for a few seconds is broken, not half-copied, and is
reported as END with DATA_LOSS (a later change of the file is read again). The version policy picks
the aspired versions among the candidates; each new one is loaded and warmed up (state LOADING)
before it is published to the request path (AVAILABLE); versions no longer aspired are
withdrawn (UNLOADING), waited for until in-flight requests finish, then dropped (END) - but
only once an aspired version is available, so traffic never sees a gap. A failed load leaves
the serving versions untouched, is reported as END with the error, and is retried on later
polls (at once if the directory changed, else up to ``max_num_load_retries`` times, at least
``load_retry_interval_seconds`` apart).

The request path (``resolve``) takes no lock: it reads an immutable per-model snapshot that
the manager replaces atomically.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from seqline.serving.errors import Code, ServingError, invalid_argument, not_found
from seqline.serving.model_config import ModelConfig, read_model_config_file
from seqline.serving.server.metrics import ServerMetrics
from seqline.serving.server.servable import (
    FUNCTION_RUNTIME,
    SESSION_RUNTIME,
    SavedModelRead,
    Servable,
    load_servable,
    read_saved_model,
)
from seqline.serving.server.warmup_replay import (
    WarmupError,
    read_warmup_records,
    replay_warmup,
    warmup_path,
)
from seqline.serving.version_dirs import version_entries

log = logging.getLogger(__name__)

# tensorflow.serving.ModelVersionStatus.State values.
START, LOADING, AVAILABLE, UNLOADING, END = 10, 20, 30, 40, 50
STATE_NAMES = {START: "START", LOADING: "LOADING", AVAILABLE: "AVAILABLE",
               UNLOADING: "UNLOADING", END: "END"}  # fmt: skip

# How long an unloading version waits for its in-flight requests before it is dropped anyway.
_UNLOAD_DRAIN_SECONDS = 30.0
# How long a saved_model.pb that does not parse must keep its size and mtime, over consecutive
# polls, before it counts as broken rather than as a copy still being written.
_UNPARSEABLE_SETTLE_SECONDS = 3.0

Listener = Callable[[str, int, int], None]


@dataclass(frozen=True)
class VersionStatus:
    """What GetModelStatus reports for one version."""

    version: int
    state: int
    error_code: Code = Code.OK
    error_message: str = ""


@dataclass(frozen=True)
class ModelSnapshot:
    """The routable state of one model: available versions, the latest, version labels."""

    versions: Mapping[int, Servable]
    latest: Servable | None
    labels: Mapping[str, int]


@dataclass
class _Unparsed:
    """A version whose SavedModel file exists but does not parse, as last seen by a poll."""

    stamp: tuple | None  # (size, mtime) of the file: a copy in progress changes it
    since: float  # time.monotonic() when this stamp was first seen
    reported: bool = False  # its END status and log line were written for this stamp


@dataclass
class _Model:
    config: ModelConfig
    loaded: dict[int, Servable] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)
    # version -> (directory fingerprint, failed attempts with it, time.monotonic() of the last)
    failures: dict[int, tuple[tuple, int, float]] = field(default_factory=dict)
    unparsed: dict[int, _Unparsed] = field(default_factory=dict)
    warned_missing: bool = False
    # "no versions found" was logged; said once until a version appears (a server started on an
    # empty base path scans it at every poll, e.g. every 0.1 s, and the log would fill).
    said_empty: bool = False


def _free(servable: Servable) -> None:
    """Frees an unloaded (or never published) version: Servable.close releases its Session
    callables and closes its Session (at once, or when its last in-flight request ends).

    With the session runtime a full garbage collection follows: the version's tf.Graph and
    its Python objects form reference cycles that only a full collection frees, and a server
    makes one rarely, so every reload used to leave the graph's native memory behind (RSS
    grew ~1.5 MB per reload). Unloads are rare; the collection costs a fraction of a second
    once per unload, as TF Serving's unload frees its Session synchronously.
    """
    runtime = servable.runtime
    servable.close()
    if runtime == SESSION_RUNTIME:
        gc.collect()


class ModelManager:
    """Loads, serves and swaps the versions of the configured models.

    Args:
        configs: the models to serve.
        file_system_poll_wait_seconds: seconds between base-path scans (default 1; <= 0 scans
            only at start and on reload).
        enable_warmup: replay assets.extra/tf_serving_warmup_requests before AVAILABLE.
        max_num_load_retries: retries of a failed load while its directory is unchanged.
        load_retry_interval_seconds: least time between two attempts on an unchanged directory
            (default 60, TF Serving's --load_retry_interval_micros default).
        saved_model_tags: the MetaGraph to load (default ("serve",)).
        tensorflow_runtime: how signatures run, "session" (default) or "function" (see
            servable.load_servable).
        metrics: where load events go (optional).
        model_config_file: re-read every ``model_config_file_poll_wait_seconds`` (> 0).
        allow_version_labels_for_unavailable_models: accept, on reload, labels pointing at
            versions that are not loaded (TF Serving's flag of the same name).
    """

    def __init__(
        self,
        configs: list[ModelConfig],
        *,
        file_system_poll_wait_seconds: float = 1.0,
        enable_warmup: bool = True,
        max_num_load_retries: int = 5,
        load_retry_interval_seconds: float = 60.0,
        saved_model_tags: tuple[str, ...] = ("serve",),
        tensorflow_runtime: str = SESSION_RUNTIME,
        metrics: ServerMetrics | None = None,
        model_config_file: str | None = None,
        model_config_file_poll_wait_seconds: float = 0.0,
        allow_version_labels_for_unavailable_models: bool = False,
    ) -> None:
        self._fs_poll = file_system_poll_wait_seconds
        self._enable_warmup = enable_warmup
        self._max_retries = max_num_load_retries
        self._retry_interval = load_retry_interval_seconds
        self._tags = tuple(saved_model_tags)
        self._runtime = tensorflow_runtime
        self._metrics = metrics
        self._config_file = model_config_file
        self._config_poll = model_config_file_poll_wait_seconds
        self._allow_unavailable_labels = allow_version_labels_for_unavailable_models
        self._last_reload_error: str | None = None  # of the polled config file, logged once
        self._models: dict[str, _Model] = {
            c.name: _Model(config=c, labels=dict(c.labels)) for c in configs
        }
        self._snapshots: dict[str, ModelSnapshot] = {}
        self._statuses: dict[str, dict[int, VersionStatus]] = {c.name: {} for c in configs}
        self._mutate_lock = threading.RLock()  # polls, loads, reloads: one at a time
        self._changed = threading.Condition()  # guards _statuses; notified on every change
        self._listeners: list[Listener] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        for name in self._models:
            self._publish(name)

    # ---------------------------------------------------------------- request path

    def resolve(self, name: str, version: int | None = None, label: str | None = None) -> Servable:
        """The version serving a request for ``name`` at ``version`` / ``label`` / latest.

        NOT_FOUND for unknown models and versions that are not available; INVALID_ARGUMENT for
        unknown labels (TF Serving's codes and messages).
        """
        snapshot = self._snapshots.get(name)
        if snapshot is None:
            what = f"Specific({name}, {version})" if version is not None else f"Latest({name})"
            raise not_found(f"Servable not found for request: {what}")
        if label is not None:
            version = snapshot.labels.get(label)
            if version is None:
                raise invalid_argument(f"Unrecognized servable version label: {label}")
        if version is None:
            if snapshot.latest is None:
                raise not_found(f"Servable not found for request: Latest({name})")
            return snapshot.latest
        servable = snapshot.versions.get(version)
        if servable is None:
            raise not_found(f"Servable not found for request: Specific({name}, {version})")
        return servable

    # ---------------------------------------------------------------- status

    def model_names(self) -> list[str]:
        with self._mutate_lock:
            return sorted(self._models)

    def status(self, name: str, version: int | None = None) -> list[VersionStatus]:
        """Version states of ``name``, newest first (NOT_FOUND for unknown model/version)."""
        with self._changed:
            versions = self._statuses.get(name)
            if not versions:
                raise not_found(f"Could not find any versions of model {name}")
            if version is not None:
                if version not in versions:
                    raise not_found(f"Could not find version {version} of model {name}")
                return [versions[version]]
            return [versions[v] for v in sorted(versions, reverse=True)]

    def add_listener(self, listener: Listener) -> None:
        """Calls ``listener(model, version, state)`` (in the manager thread) on each change."""
        self._listeners.append(listener)

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Waits until ``predicate()`` holds (re-checked on every state change)."""
        with self._changed:
            return self._changed.wait_for(predicate, timeout=timeout)

    def is_configured(self, name: str) -> bool:
        """True if ``name`` is one of the configured models (loaded or not)."""
        return name in self._snapshots

    def is_available(self, name: str, version: int | None = None) -> bool:
        snapshot = self._snapshots.get(name)
        if snapshot is None:
            return False
        return snapshot.latest is not None if version is None else version in snapshot.versions

    def wait_until_available(
        self, name: str, version: int | None = None, timeout: float = 30.0
    ) -> bool:
        """True once ``name`` (at ``version``, or any) is AVAILABLE; False after ``timeout``."""
        return self.wait_for(lambda: self.is_available(name, version), timeout)

    def wait_until_ready(self, timeout: float = 60.0) -> None:
        """Waits until every configured model serves a version; TimeoutError says which don't."""
        if self.wait_for(lambda: all(self.is_available(n) for n in list(self._models)), timeout):
            return
        missing = [n for n in list(self._models) if not self.is_available(n)]
        details = []
        for name in missing:
            model = self._models.get(name)
            errors = [
                f"version {s.version}: {s.error_message}"
                for s in self._statuses.get(name, {}).values()
                if s.error_message
            ]
            base = model.config.base_path if model else "?"
            details.append(
                f"{name} (base path {base}; {'; '.join(errors) or 'no loadable version'})"
            )
        raise TimeoutError(
            f"after {timeout:.0f} s no version is available for: {', '.join(details)}; check that "
            "each base path holds integer version directories with a saved_model.pb"
        )

    # ---------------------------------------------------------------- lifecycle

    def load_initial(self) -> Exception | None:
        """The first poll, in the calling thread: every configured model's aspired versions
        get their first load attempt (the server opens its ports only afterwards).

        Returns the exception that stopped the poll as a whole (None when it completed; a
        version that fails its load is a status, not an exception), so the caller can fail
        its start rather than open ports with models that were never looked at."""
        try:
            self.poll()
        except Exception as e:
            log.exception("initial model load failed")
            return e
        return None

    def start(self) -> None:
        """Starts the polling thread (its first poll runs at once)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="seqline-model-manager", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stops polling and unloads every version (END)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._mutate_lock:
            for model in self._models.values():
                for version in sorted(model.loaded):
                    self._unload(model, version, drain_seconds=1.0)

    def _run(self) -> None:
        next_config_read = time.monotonic() + self._config_poll
        while not self._stop.is_set():
            try:
                if (
                    self._config_file
                    and self._config_poll > 0
                    and time.monotonic() >= next_config_read
                ):
                    next_config_read = time.monotonic() + self._config_poll
                    self._reload_from_file()
                self.poll()
            except Exception:  # never let the manager thread die: serving must go on
                log.exception("model manager poll failed; retrying on the next poll")
            wait = self._fs_poll if self._fs_poll > 0 else (self._config_poll or 3600.0)
            if self._config_file and self._config_poll > 0:
                wait = min(wait, self._config_poll)
            self._stop.wait(wait)

    def _reload_from_file(self) -> None:
        assert self._config_file is not None
        try:
            configs = read_model_config_file(self._config_file)
        except ValueError as e:
            log.error("model config file not reloaded: %s", e)
            return
        with self._mutate_lock:
            current = [m.config for m in self._models.values()]
            pending = self._labels_pending()
        unchanged = sorted(configs, key=lambda c: c.name) == sorted(current, key=lambda c: c.name)
        if unchanged and not pending:
            return
        # Applied again on every poll while some configured labels are not in effect (their
        # versions were not available yet), as TF Serving re-applies the polled config and its
        # label map each time: a label pointing at a version pushed after the config change
        # takes effect at the first poll after that version is AVAILABLE.
        try:
            self.reload(configs)
        except ServingError as e:
            if e.message != self._last_reload_error:  # once per distinct error, not per poll
                log.error(
                    "model config file %s applied with errors (retried on every poll): %s",
                    self._config_file,
                    e.message,
                )
            self._last_reload_error = e.message
            return
        if self._last_reload_error is not None:
            log.info("model config file %s: every version label is now in effect",
                     self._config_file)  # fmt: skip
        self._last_reload_error = None

    def _labels_pending(self) -> list[str]:
        """Models whose configured version labels are not the ones in effect (a reload
        refused them because their versions were not available). Called with _mutate_lock."""
        return [name for name, model in self._models.items() if model.labels != model.config.labels]

    # ---------------------------------------------------------------- polling

    def poll(self) -> None:
        """Scans every base path once and loads / unloads versions (blocking)."""
        with self._mutate_lock:
            for model in list(self._models.values()):
                if self._stop.is_set():
                    return
                self._poll_model(model)

    def _scan(self, model: _Model) -> dict[int, str]:
        """Complete version directories under the base path: {version: path}."""
        import tensorflow as tf

        base = model.config.base_path
        try:
            entries = tf.io.gfile.listdir(base)
        except tf.errors.OpError:
            if not model.warned_missing:
                log.warning("model %s: base path %s does not exist or cannot be listed",
                            model.config.name, base)  # fmt: skip
                model.warned_missing = True
            return {}
        model.warned_missing = False
        local = "://" not in base
        real_base = os.path.realpath(base) if local else base
        found: dict[int, str] = {}
        # Temp dirs, partial copies and stray files are dropped by the shared scanner.
        for version, entry in version_entries(entries).items():
            path = os.path.join(base, entry)
            if local:
                real = os.path.realpath(path)
                if os.path.commonpath([real, real_base]) != real_base or real == real_base:
                    log.warning("model %s: ignoring %s, it resolves outside the base path (%s)",
                                model.config.name, path, real)  # fmt: skip
                    continue
                if not os.path.isdir(real):
                    continue
            found[version] = path
        return found

    def _poll_model(self, model: _Model) -> None:
        name = model.config.name
        on_disk = self._scan(model)
        # Loaded versions stay candidates without re-reading their saved_model.pb each poll.
        candidates: dict[int, str] = {}
        broken: dict[int, SavedModelRead] = {}
        for version, path in on_disk.items():
            if version in model.loaded:
                candidates[version] = path
                continue
            read = read_saved_model(path)
            if read.proto is not None:
                candidates[version] = path
            elif read.path is not None:  # the file exists but does not parse
                broken[version] = read
        self._watch_unparsed(model, candidates, broken)
        aspired = model.config.policy.select(candidates)
        for version in sorted(aspired - set(model.loaded), reverse=True):
            if self._stop.is_set():
                return
            path = candidates[version]
            if self._may_load(model, version, path):
                self._load(model, version, path)
        stale = set(model.loaded) - aspired
        # Availability preserving: withdraw old versions only once an aspired one serves
        # (or nothing is aspired any more, e.g. every directory was deleted).
        if stale and (not aspired or aspired & set(model.loaded)):
            for version in sorted(stale):
                self._unload(model, version)
        if on_disk:
            model.said_empty = False
        elif not model.loaded and not self._statuses.get(name) and not model.said_empty:
            log.info("model %s: no versions found under %s yet", name, model.config.base_path)
            model.said_empty = True

    def _watch_unparsed(
        self, model: _Model, candidates: dict[int, str], broken: dict[int, SavedModelRead]
    ) -> None:
        """Tells a half-written saved_model.pb from a broken one: a file that does not parse
        and keeps its size and mtime over consecutive polls for _UNPARSEABLE_SETTLE_SECONDS
        is reported (END with DATA_LOSS naming the parse failure, logged once) if the version
        policy would serve it; a later change of the file starts the watch again (and a file
        that parses then is loaded as usual). Called with _mutate_lock."""
        name = model.config.name
        now = time.monotonic()
        for version in [v for v in model.unparsed if v not in broken]:
            del model.unparsed[version]  # parses now, or the file or directory is gone
        if not broken:
            return
        # What the policy would pick if the broken versions were complete: a broken older
        # version that would never be served is not reported (TF Serving never loads it).
        would_serve = model.config.policy.select(set(candidates) | set(broken))
        for version, read in broken.items():
            assert read.path is not None
            stamp = _file_stamp(read.path)
            seen = model.unparsed.get(version)
            if seen is None or seen.stamp != stamp:
                if seen is not None and seen.reported:
                    log.info("model %s: version %d's %s changed; reading it again",
                             name, version, read.path)  # fmt: skip
                model.unparsed[version] = _Unparsed(stamp, now)
                continue
            if seen.reported or version not in would_serve:
                continue
            if now - seen.since < _UNPARSEABLE_SETTLE_SECONDS:
                continue
            seen.reported = True
            message = (
                f"Loading failed: {read.error}. The file has not changed for "
                f"{now - seen.since:.0f} s, so it is not a copy in progress: replace version "
                f"{version}'s directory with a complete SavedModel (a changed file is read again "
                "at the next poll)"
            )
            log.error("model %s: version %d cannot be loaded: %s", name, version, message)
            self._set_status(name, VersionStatus(version, END, Code.DATA_LOSS, message))
            self._event(name, version, "load_failed")

    def _may_load(self, model: _Model, version: int, path: str) -> bool:
        failure = model.failures.get(version)
        if failure is None:
            return True
        fingerprint = _fingerprint(path)
        if fingerprint != failure[0]:  # the directory changed: a new copy, try it at once
            model.failures[version] = (fingerprint, 0, 0.0)
            return True
        _, attempts, last = failure
        return attempts <= self._max_retries and time.monotonic() - last >= self._retry_interval

    def _load(self, model: _Model, version: int, path: str) -> None:
        name = model.config.name
        self._set_status(name, VersionStatus(version, LOADING))
        self._event(name, version, "loading")
        log.info("model %s: loading version %d from %s", name, version, path)
        start = time.perf_counter()
        servable: Servable | None = None
        try:
            servable = load_servable(name, version, path, self._tags, self._runtime)
            load_seconds = time.perf_counter() - start
            if self._enable_warmup:
                servable = self._warm_up(servable)
        except Exception as e:
            if servable is not None:  # loaded, warmup failed: never published, free it now
                _free(servable)
            code = Code(e.error_code) if hasattr(e, "error_code") else Code.UNKNOWN
            message = getattr(e, "message", None) or str(e) or type(e).__name__
            fingerprint, attempts, _ = model.failures.get(version, (None, 0, 0.0))
            model.failures[version] = (_fingerprint(path) if fingerprint is None else fingerprint,
                                       attempts + 1, time.monotonic())  # fmt: skip
            log.error("model %s: loading version %d failed (attempt %d): %s",
                      name, version, attempts + 1, message)  # fmt: skip
            self._set_status(name, VersionStatus(version, END, code, f"Loading failed: {message}"))
            self._event(name, version, "load_failed")
            if self._metrics is not None:
                self._metrics.tf.load_attempt_count.increment(path, "fail")
            return
        if self._metrics is not None:
            self._metrics.tf.load_attempt_count.increment(path, "success")
            self._metrics.tf.load_latency.increment(path, by=round(load_seconds * 1e6))
        model.failures.pop(version, None)
        model.loaded[version] = servable
        self._publish(name)
        self._set_status(name, VersionStatus(version, AVAILABLE))
        self._event(name, version, "available")
        log.info("model %s: version %d is available", name, version)

    def _warm_up(self, servable: Servable) -> Servable:
        """Replays the version's warmup records (if any) and returns the servable to publish.

        With --tensorflow_runtime=session, a warmup that fails in the TF1 Session is replayed
        once more on the version loaded with the function runtime, as a model the Session
        cannot load falls back (its first run is where a Session-only failure shows); if that
        fails too, the load fails with the function runtime's error. session_strict and
        function fail at once. Raises WarmupError, or what loading raises."""
        name, version, path = servable.name, servable.version, servable.path
        records = read_warmup_records(warmup_path(path))
        if not records:
            return servable
        try:
            count = replay_warmup(servable, records)
        except WarmupError as e:
            if self._runtime != SESSION_RUNTIME or servable.runtime != SESSION_RUNTIME:
                raise
            log.warning("model %s version %d: warmup failed in a TF1 Session (%s); loading it "
                        "with the function runtime", name, version, e)  # fmt: skip
            # No request has reached the Session version: free it, as unloading does.
            _free(servable)
            servable = load_servable(name, version, path, self._tags, FUNCTION_RUNTIME)
            count = replay_warmup(servable, records)
        log.info("model %s version %d: replayed %d warmup records", name, version, count)
        return servable

    def _unload(
        self, model: _Model, version: int, drain_seconds: float = _UNLOAD_DRAIN_SECONDS
    ) -> None:
        name = model.config.name
        servable = model.loaded.pop(version)
        if self._models.get(name) is model:  # a removed / replaced model is no longer routed
            self._publish(name)  # no new request reaches it from here on
        self._set_status(name, VersionStatus(version, UNLOADING))
        self._event(name, version, "unloading")
        if not servable.wait_idle(drain_seconds):
            log.warning("model %s version %d: %d requests still running after %.0f s; unloading",
                        name, version, servable.in_flight, drain_seconds)  # fmt: skip
        _free(servable)
        self._set_status(name, VersionStatus(version, END))
        self._event(name, version, "unloaded")
        log.info("model %s: version %d unloaded", name, version)

    # ---------------------------------------------------------------- config reload

    def reload(self, configs: list[ModelConfig], wait_seconds: float = 60.0) -> None:
        """Switches to ``configs`` (HandleReloadConfigRequest): adds, changes, removes models.

        New and changed models are polled (loaded) before this returns. Labels are applied
        only if they point at available versions (else FAILED_PRECONDITION, the old labels
        stay), unless allow_version_labels_for_unavailable_models.
        """
        names = [c.name for c in configs]
        if len(set(names)) != len(names):
            raise invalid_argument(f"model names must be unique, got {names}")
        with self._mutate_lock:
            new = {c.name: c for c in configs}
            for name in [n for n in self._models if n not in new]:
                removed = self._models.pop(name)
                snapshots = dict(self._snapshots)
                snapshots.pop(name, None)
                self._snapshots = snapshots
                for version in sorted(removed.loaded):
                    self._unload(removed, version)
                log.info("model %s removed by config reload", name)
            touched: list[_Model] = []
            for name, config in new.items():
                model = self._models.get(name)
                if model is not None and model.config == config:
                    continue
                if model is not None and model.config.base_path != config.base_path:
                    # Same version numbers may mean other models now: load the new path's
                    # versions first, then drop the old ones (availability preserving).
                    # The old versions stay routable (last snapshot) until the first new one
                    # is published; if none loads, the model serves nothing from the old path.
                    replacement = _Model(config=config, labels=dict(model.labels))
                    self._models[name] = replacement
                    self._poll_model(replacement)
                    self._publish(name)
                    for version in sorted(model.loaded):
                        self._unload(model, version)
                    model = replacement
                elif model is not None:
                    model.config = config
                else:
                    model = _Model(config=config)
                    self._models[name] = model
                    with self._changed:
                        self._statuses.setdefault(name, {})
                touched.append(model)
            for model in touched:
                self._poll_model(model)
            errors: list[str] = []
            # Labels are (re)applied for the changed models and for every model whose
            # configured labels are not in effect yet: a version a label waited for may be
            # available now (TF Serving updates the whole label map on each reload).
            touched_ids = {id(m) for m in touched}
            relabel = touched + [
                m
                for m in self._models.values()
                if id(m) not in touched_ids and m.labels != m.config.labels
            ]
            for model in relabel:
                bad = {
                    label: v
                    for label, v in model.config.labels.items()
                    if v not in model.loaded and not self._allow_unavailable_labels
                }
                if bad:
                    errors.extend(
                        f"Request to assign label to version {v} of model {model.config.name}, "
                        "which is not currently available for inference"
                        for v in bad.values()
                    )
                else:
                    model.labels = dict(model.config.labels)
                self._publish(model.config.name)
        if errors:
            raise ServingError(Code.FAILED_PRECONDITION, "; ".join(errors))

    # ---------------------------------------------------------------- internals

    def _publish(self, name: str) -> None:
        model = self._models[name]
        versions = MappingProxyType(dict(model.loaded))
        latest = versions[max(versions)] if versions else None
        snapshots = dict(self._snapshots)
        snapshots[name] = ModelSnapshot(versions, latest, MappingProxyType(dict(model.labels)))
        self._snapshots = snapshots  # one reference swap: readers see old or new, never half
        if self._metrics is not None:
            self._metrics.set_available(name, len(versions))
        with self._changed:
            self._changed.notify_all()

    def _set_status(self, name: str, status: VersionStatus) -> None:
        with self._changed:
            self._statuses.setdefault(name, {})[status.version] = status
            self._changed.notify_all()
        if self._metrics is not None:
            self._metrics.set_version_state(name, status.version, status.state)
        for listener in list(self._listeners):
            try:
                listener(name, status.version, status.state)
            except Exception:
                log.exception("model state listener failed")

    def _event(self, name: str, version: int, event: str) -> None:
        if self._metrics is not None:
            self._metrics.load_event(name, version, event)


def _file_stamp(path: str) -> tuple | None:
    """(size, mtime in ns) of one file, None if it cannot be stat'ed: what a copy changes."""
    import tensorflow as tf

    try:
        stat = tf.io.gfile.stat(path)
    except tf.errors.OpError:
        return None
    return (stat.length, stat.mtime_nsec)


def _fingerprint(path: str) -> tuple:
    """(relative path, size, mtime) of every file under ``path``: changes while it is written."""
    import tensorflow as tf

    entries = []
    try:
        for root, _dirs, files in tf.io.gfile.walk(path):
            for file_name in files:
                full = os.path.join(root, file_name)
                try:
                    stat = tf.io.gfile.stat(full)
                except tf.errors.OpError:
                    continue
                entries.append((os.path.relpath(full, path), stat.length, stat.mtime_nsec))
    except tf.errors.OpError:
        return ()
    return tuple(sorted(entries))
