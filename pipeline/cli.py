"""The `seqline` command line.

    seqline run CONFIG            run a pipeline (progress per component, summary table)
    seqline run CONFIG --max-parallel N
                                  at most N independent nodes at once (default min(2, cores))
    seqline run CONFIG --node N --run-id ID
                                  run one node as a task of an orchestrated run
    seqline kfp compile CONFIG    write a Kubeflow Pipelines v2 PipelineSpec (seqline[kfp])
    seqline runs                  run history from the metadata store
    seqline show RUN              executions, artifacts, metrics of one run ('latest' works)
    seqline lineage MODEL N       data, transform and run behind served version N of MODEL
    seqline new-component NAME    write a working skeleton of an out-of-tree component
    seqline unlock ROOT           release a dead run's lease on a remote pipeline root
    seqline gc --root DIR         delete what no kept run needs (--keep-runs N, --dry-run)
    seqline rollback MODEL        serve an earlier pushed version (see serving/deploy/rollback.py)
    seqline serve ...             TF-Serving-compatible model server (see serving/)
    seqline predict ...           query a model server

Startup is fast: TensorFlow, Beam and TFT are imported only by the commands that need them
(`seqline --help`, `runs`, `show`, `gc` and a fully cached `run` never import TensorFlow). So
is the exit: the console script skips the interpreter's teardown (pipeline/process_exit.py).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence

from seqline.pipeline.errors import DataNotReady, SeqlineError
from seqline.serving.quiet_logs import quiet_tensorflow_logs

# Exit statuses: 2 for a SeqlineError (a mistake to fix), 75 (EX_TEMPFAIL in sysexits.h) for
# data that has not landed yet (DataNotReady: try again later), 130 when interrupted (Ctrl-C),
# 143 when terminated (SIGTERM), 141 when the reader of the output went away (`| head`): 128 +
# the signal's number, as a shell reports a process that signal ended.
EXIT_ERROR = 2
EXIT_NOT_READY = 75
EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_TERMINATED = 128 + signal.SIGTERM
EXIT_BROKEN_PIPE = 128 + 13  # SIGPIPE (not in the signal module on Windows)
EXIT_OUTPUT_FAILED = 120  # output that cannot be delivered, as Python's own exit reports it


class OutputFailed(Exception):
    """Writing the command's output failed (a full disk, `> /dev/full`): not a mistake in
    what the user asked, so no traceback, but no success either."""


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived (an orchestrator stopping a task, `kill PID`). A KeyboardInterrupt, so
    a run stops exactly as on Ctrl-C: the runner records what was running as interrupted and
    removes its scratch, infra_validate's server child is stopped, and `seqline` exits 143."""


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """While the block runs, SIGTERM raises Terminated in the main thread, as SIGINT raises
    KeyboardInterrupt (its default would end the process at once, with no clean-up). A second
    SIGTERM does not cut that clean-up short (a stopping orchestrator sends SIGKILL after its
    grace period). Only from the main thread, where Python can install handlers; the previous
    handler is put back afterwards (main() may be called from Python)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(_signum: int, _frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated("SIGTERM")

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _add_store_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--config", help="pipeline YAML (its root/metadata_url locate the store)")
    where.add_argument("--root", help="pipeline root holding metadata.sqlite")
    where.add_argument("--metadata-url", help="SQLAlchemy URL of the metadata database")


def _command_line_root(root: str) -> str:
    """A pipeline root typed on the command line (`run --root`, `gc --root`): a local path is
    relative to the working directory, as for runs/show/lineage --root (the config's own
    `root:` is relative to the config file); a URL as it is."""
    return os.path.abspath(os.path.expanduser(root)) if "://" not in root else root


def _open_store(args: argparse.Namespace):  # noqa: ANN202 — MetadataStore, imported lazily
    """The metadata store the command names (runs, show, lineage, unlock). Never a new one: a
    SQLite store that does not exist is a SeqlineError saying where it was expected (a typo in
    --root made a new, empty store and printed that no run was recorded)."""
    from seqline.pipeline.metadata import MetadataStore, default_metadata_url, sqlite_file

    if args.metadata_url:
        url, where = args.metadata_url, "--metadata-url"
    elif args.root:
        url, where = default_metadata_url(args.root), "--root"
    elif args.config:
        # Only root and metadata_url are read: a config whose other values take run
        # parameters (`${span}`), or hold a mistake, still names its store.
        from seqline.pipeline.config_file import store_location

        root, metadata_url = store_location(args.config)
        url = metadata_url or default_metadata_url(root)
        where = f"the root of {args.config}" if not metadata_url else "its metadata_url"
    else:
        raise SeqlineError(
            "say where the metadata store is: --config FILE, --root DIR or --metadata-url URL"
        )
    path = sqlite_file(url)
    if path is not None and not os.path.isfile(path):
        if where == "--root" or where.startswith("the root of "):
            expected = (
                f"expected the pipeline root ({where}): the folder a run writes metadata.sqlite "
                "into, `root:` in the pipeline's YAML"
            )
        else:  # a URL names the file itself: pointing at a folder would not help
            expected = (
                f"expected the SQLite file a run created with this metadata_url ({where}), "
                "the same URL the pipeline's YAML gives"
            )
        raise SeqlineError(
            f"no metadata store at {path}; {expected}. Check the path, or run the pipeline "
            "first (`seqline run CONFIG`)"
        )
    return MetadataStore(url)


def _print(*values: object) -> None:
    """print() for a command's results: a failed write (other than a closed pipe, which main
    handles) raises OutputFailed instead of an OSError traceback."""
    try:
        print(*values)
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OutputFailed(exc.strerror or str(exc)) from None


def _params(pairs: Sequence[str]) -> dict[str, str]:
    from seqline.pipeline.config_file import parse_param

    params: dict[str, str] = {}
    for text in pairs:
        key, value = parse_param(text)
        if key in params and params[key] != value:
            raise SeqlineError(f"--param {key} is given twice ({params[key]!r} and {value!r})")
        params[key] = value
    return params


def _cmd_run(args: argparse.Namespace) -> int:
    from seqline.pipeline.config_file import load_pipeline
    from seqline.pipeline.report import PrintProgress, brief, printable, run_summary
    from seqline.pipeline.runner import run_pipeline
    from seqline.serving.garbage_collection import collect_less_often

    overrides = {}
    if args.root:
        overrides["root"] = _command_line_root(args.root)
    pipeline = load_pipeline(args.config, overrides, _params(args.param))
    try:
        collect_less_often()  # this process now runs nodes: TensorFlow-sized heaps
    except ValueError as exc:  # a wrong $SEQLINE_GC_THRESHOLDS
        raise SeqlineError(str(exc)) from None
    if args.beam_arg:
        from dataclasses import replace

        pipeline = replace(pipeline, beam_args=tuple(pipeline.beam_args) + tuple(args.beam_arg))
    if args.node and args.max_parallel is not None:
        raise SeqlineError(
            "--max-parallel applies to a whole run; --node runs one node (its orchestrator "
            "decides which tasks run at once): drop one of the two"
        )
    if args.node:
        import shlex
        import time
        import uuid

        from seqline.pipeline.execution import check_run_id
        from seqline.pipeline.node_run import run_node

        # `--run-id ''` (a template that rendered empty) is refused, not replaced by a new id.
        if args.run_id is None:
            run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        else:
            run_id = check_run_id(args.run_id)
        _print(
            printable(
                f"pipeline '{pipeline.name}' node '{args.node}' run {run_id} -> {pipeline.root}"
            )
        )
        # What the user would type to run another node of this run (for error messages).
        hint = " ".join([args.config, *(f"--param {shlex.quote(p)}" for p in args.param)])
        node = run_node(pipeline, args.node, run_id, progress=PrintProgress(), config_hint=hint)
        _print(f"{node.node_id} {node.status} {node.fingerprint} {brief(node.summary)}".rstrip())
        return 0
    _print(printable(f"pipeline '{pipeline.name}' -> {pipeline.root}"))
    result = run_pipeline(
        pipeline, progress=PrintProgress(), run_id=args.run_id, max_parallel=args.max_parallel
    )
    _print()
    _print(run_summary(result))
    return 0


def _cmd_kfp_compile(args: argparse.Namespace) -> int:
    try:
        from seqline.orchestration.kfp import compile_pipeline
    except ModuleNotFoundError as exc:
        if exc.name != "kfp" and not (exc.name or "").startswith("kfp."):
            raise
        raise SeqlineError(
            "seqline kfp compile needs kfp 2.17: pip install -c constraints.txt 'seqline[kfp]'"
        ) from None

    written = compile_pipeline(
        args.config,
        image=args.image,
        output=args.output,
        params=_params(args.param),
        pipeline_root=args.pipeline_root,
        container_config=args.container_config,
    )
    _print(f"wrote {written}")
    return 0


def _cmd_runs(args: argparse.Namespace) -> int:
    from seqline.pipeline.report import runs_table

    store = _open_store(args)
    runs = store.runs(pipeline_name=args.pipeline, limit=args.limit)
    if runs:
        _print(runs_table(runs))
    elif args.pipeline is None:
        _print("no runs recorded yet")
    else:
        names = sorted({run["pipeline_name"] for run in store.runs(limit=200)})
        _print(
            f"no runs of pipeline {args.pipeline!r}; runs recorded here are of "
            f"{names}: check --pipeline (the config's `name:`)"
            if names
            else "no runs recorded yet"
        )
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from seqline.pipeline.report import run_details

    store = _open_store(args)
    _print(run_details(store, store.resolve_run_id(args.run)))
    return 0


def _cmd_lineage(args: argparse.Namespace) -> int:
    from seqline.pipeline.report import model_lineage

    store = _open_store(args)
    _print(model_lineage(store, args.model, args.version, args.serving_root))
    return 0


def _cmd_new_component(args: argparse.Namespace) -> int:
    from seqline.pipeline.scaffold import new_component, next_steps

    for path in new_component(args.name, args.dir):
        _print(f"wrote {path}")
    _print()
    _print(next_steps(args.name, args.dir))
    return 0


def _cmd_unlock(args: argparse.Namespace) -> int:
    import time

    from seqline.pipeline.metadata import lease_key

    store = _open_store(args)
    released = store.release_root(args.pipeline_root)
    if not released:
        _print(f"no lease was held on {lease_key(args.pipeline_root)}")
    for lease in released:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(lease.acquired_at))
        spelled = f" (recorded as {lease.root})" if lease.root != lease_key(lease.root) else ""
        _print(
            f"released the lease on {lease_key(lease.root)}{spelled} held by run "
            f"{lease.run_id} (pid {lease.pid}, host {lease.host}, since {since})"
        )
    return 0


def _cmd_gc(args: argparse.Namespace) -> int:
    from seqline.pipeline.report import printable
    from seqline.pipeline.retention import collect
    from seqline.pipeline.retention_report import describe

    if args.config:
        from seqline.pipeline.config_file import store_location

        root, url = store_location(args.config)
        args.metadata_url = args.metadata_url or url
    elif args.root:
        root = _command_line_root(args.root)
    else:
        raise SeqlineError("say which pipeline root to clean: --config FILE or --root DIR")
    args.root, args.config = root, None  # _open_store: the root's store, or --metadata-url
    store = _open_store(args)
    try:
        plan = collect(store, root, args.keep_runs, dry_run=args.dry_run)
    finally:
        store.close()
    for line in describe(plan, args.dry_run).split("\n"):
        _print(printable(line))
    return 1 if plan.failed else 0


class _NodeFormatter(logging.Formatter):
    """Starts a log line with `[node]` when a node running in its own thread (`seqline:NODE`,
    see pipeline/scheduling.py) logs it, so parallel nodes' lines stay readable."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        thread = record.threadName or ""
        return f"[{thread[8:]}] {text}" if thread.startswith("seqline:") else text


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _command_parser(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> argparse.ArgumentParser:
    """The (sub)parser of the command `args` ran (`seqline kfp compile` -> compile's)."""
    current = parser
    while True:
        action = next(
            (a for a in current._actions if isinstance(a, argparse._SubParsersAction)), None
        )
        name = getattr(args, action.dest, None) if action is not None else None
        if action is None or name not in action.choices:
            return current
        current = action.choices[name]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seqline",
        description="Production pipelines for sequence models: Beam + TFT data, Keras 3 RNNs, "
        "validated pushes to TensorFlow Serving.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run a pipeline from a YAML config")
    run.add_argument("config", help="pipeline YAML file")
    run.add_argument(
        "--root",
        help="override the config's pipeline root (a relative DIR is relative to the working "
        "directory, as for runs/show/lineage --root)",
    )
    run.add_argument("--node", help="run only this node (its upstream outputs must exist)")
    run.add_argument(
        "--run-id", help="run id grouping the node runs of one orchestrated run (default: new)"
    )
    run.add_argument(
        "--max-parallel",
        type=int,
        metavar="N",
        help="run at most N independent nodes at once (default: the config's max_parallel, "
        "else $SEQLINE_MAX_PARALLEL, else min(2, cores)); 1 runs one node at a time",
    )
    run.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="run parameter the config references as ${KEY}, repeatable",
    )
    run.add_argument(
        "--beam-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra Beam argument, repeatable (e.g. --beam-arg=--direct_num_workers=2)",
    )
    run.set_defaults(func=_cmd_run)

    kfp = sub.add_parser("kfp", help="Kubeflow Pipelines v2 (needs seqline[kfp])")
    kfp_sub = kfp.add_subparsers(dest="kfp_command", required=True, metavar="COMMAND")
    compile_ = kfp_sub.add_parser(
        "compile", help="write a PipelineSpec YAML: one container task per node"
    )
    compile_.add_argument("config", help="pipeline YAML file, as the containers will see it")
    compile_.add_argument("--image", required=True, help="container image with seqline installed")
    compile_.add_argument("-o", "--output", required=True, help="PipelineSpec YAML to write")
    compile_.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="default of a pipeline parameter the config references as ${KEY}, repeatable",
    )
    compile_.add_argument(
        "--pipeline-root", help="KFP pipeline root (gs://... or s3://...), default: none"
    )
    compile_.add_argument(
        "--container-config", help="the config's path inside the image (default: CONFIG)"
    )
    compile_.set_defaults(func=_cmd_kfp_compile)

    runs = sub.add_parser("runs", help="list past runs from the metadata store")
    _add_store_arguments(runs)
    runs.add_argument("--pipeline", help="only runs of this pipeline name")
    runs.add_argument(
        "--limit",
        type=_positive_int,
        default=20,
        metavar="N",
        help="show the newest N runs (default 20)",
    )
    runs.set_defaults(func=_cmd_runs)

    show = sub.add_parser("show", help="executions, artifacts and metrics of one run")
    show.add_argument("run", help="run id, a unique prefix of it, or 'latest'")
    _add_store_arguments(show)
    show.set_defaults(func=_cmd_show)

    lineage = sub.add_parser(
        "lineage", help="which data, transform and run produced the model serving as version N"
    )
    lineage.add_argument("model", help="model name (push's model_name)")
    lineage.add_argument("version", type=int, help="served version number")
    lineage.add_argument(
        "--serving-root",
        help="only pushes to this serving root; also where to find the version's provenance "
        "marker when no push recorded it (default: the roots of recorded pushes)",
    )
    _add_store_arguments(lineage)
    lineage.set_defaults(func=_cmd_lineage)

    new = sub.add_parser(
        "new-component", help="write a working skeleton of a component in your own package"
    )
    new.add_argument("name", help="the component's name, a Python identifier (e.g. pii_scrub)")
    new.add_argument("--dir", default=".", help="folder to write it into (default: .)")
    new.set_defaults(func=_cmd_new_component)

    unlock = sub.add_parser(
        "unlock", help="release the lease a dead run left on a remote pipeline root"
    )
    unlock.add_argument("pipeline_root", help="the root, e.g. gs://bucket/pipelines/imdb")
    _add_store_arguments(unlock)
    unlock.set_defaults(func=_cmd_unlock)

    gc = sub.add_parser(
        "gc",
        help="delete the artifacts of a pipeline root that no kept run or next run needs",
    )
    where = gc.add_mutually_exclusive_group()
    where.add_argument("--config", help="pipeline YAML (its root and metadata_url)")
    where.add_argument("--root", help="the pipeline root")
    gc.add_argument(
        "--metadata-url", help="SQLAlchemy URL of the metadata database (default: the root's)"
    )
    gc.add_argument(
        "--keep-runs",
        type=_positive_int,
        default=3,
        metavar="N",
        help="keep what the newest N successful runs of each pipeline that executed a node "
        "(not fully cached) and are no backfill (spans all older than one an earlier run "
        "processed) used, and every run since (default 3)",
    )
    gc.add_argument("--dry-run", action="store_true", help="say what would go; delete nothing")
    gc.set_defaults(func=_cmd_gc)

    try:
        from seqline.serving import cli as serving_cli
    except ImportError:  # serving/ is optional for a pipeline-only install
        serving_cli = None  # type: ignore[assignment]
    if serving_cli is not None and hasattr(serving_cli, "register"):
        serving_cli.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    quiet_tensorflow_logs()  # before anything imports TensorFlow (SEQLINE_LOG_LEVEL=debug: off)
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        # The command's own usage, not the top-level one, says which flags it takes.
        hint = (
            "; -v/--verbose goes before the command (seqline -v COMMAND ...)"
            if {"-v", "--verbose"} & set(extra)
            else ""
        )
        _command_parser(parser, args).error(f"unrecognized arguments: {' '.join(extra)}{hint}")
    handler = logging.StreamHandler()
    handler.setFormatter(_NodeFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, handlers=[handler])
    try:
        with _sigterm_interrupts():
            return int(args.func(args) or 0)
    except BrokenPipeError:
        # The reader of our output went away (`seqline runs | head`): stop quietly. Later
        # writes and the final flush go to /dev/null instead of raising again.
        _discard_stdout()
        return EXIT_BROKEN_PIPE
    except OutputFailed as exc:
        print(f"error: cannot write the output: {exc}", file=sys.stderr)
        _discard_stdout()
        return EXIT_OUTPUT_FAILED
    except DataNotReady as exc:
        # Data not landed yet (a span folder missing or still empty): a retry may succeed,
        # so a wrapper can tell it from a mistake (status 2) by the status alone.
        print(f"error: {_printable_text(exc)}", file=sys.stderr)
        return EXIT_NOT_READY
    except SeqlineError as exc:
        # A component's failure quotes its exception, whose text may come from data.
        print(f"error: {_printable_text(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt as exc:
        what = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        if args.func is _cmd_run:
            # A node's outputs are published only when it finishes, so nothing half-written
            # is left to clean: say how to go on instead of printing the scheduler's traceback.
            what += (
                ": nothing half-written was published. To go on, run the same command again: "
                "finished nodes are cached and train continues from its last finished epoch "
                "(it starts over if seqline or train's config or inputs changed in between)"
            )
        print(what, file=sys.stderr)
        return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED


def _printable_text(exc: BaseException) -> str:
    """An error's message for the terminal: its lines kept, control characters in each escaped
    (report.printable)."""
    from seqline.pipeline.report import printable

    return "\n".join(printable(line) for line in str(exc).split("\n"))


def _discard_stdout() -> None:
    """Points standard output at /dev/null (its reader is gone), so that flushing what is still
    buffered, now or at exit, does not fail again."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def entry() -> None:
    """The `seqline` console script: main(), then leave the process without the interpreter's
    teardown (seqline.pipeline.process_exit: ~1.4 s once TensorFlow is loaded). main() itself
    returns, so callers in Python keep their process."""
    from seqline.pipeline.process_exit import leave

    leave(main())


if __name__ == "__main__":
    entry()
