"""Two tasks of one orchestrated run finishing at once (Airflow or KFP running evaluate and
infra_validate in parallel) each set the run's status from every node's newest execution. The
read and the write used to be separate: a task that read before its sibling's failure was
recorded wrote SUCCEEDED over the sibling's FAILED. Settling is now one transaction under the
run's write lock, so the later task decides from everything the earlier one committed."""

from __future__ import annotations

import os
import threading
import uuid

import pytest

from seqline.pipeline import node_run
from seqline.pipeline.metadata import MetadataStore, default_metadata_url

PG_URL = os.environ.get("SEQLINE_TEST_DATABASE_URL", "")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return default_metadata_url(str(tmp_path))
    if not PG_URL:
        pytest.skip("no PostgreSQL server: set SEQLINE_TEST_DATABASE_URL (.ci/run starts one)")
    return PG_URL


def test_a_sibling_failing_while_a_task_settles_leaves_the_run_failed(url, monkeypatch) -> None:
    run_id = f"race-{uuid.uuid4().hex[:8]}"
    # Two processes' stores: each task of an orchestrated run opens its own.
    evaluate_store, infra_store = MetadataStore(url), MetadataStore(url)
    try:
        evaluate_store.start_run(run_id, "p")
        evaluate = evaluate_store.start_execution(run_id, "evaluate", "evaluate", "e", {})
        infra = infra_store.start_execution(run_id, "infra_validate", "infra_validate", "i", {})
        evaluate_store.finish_execution(evaluate, "COMPLETE")

        def infra_fails() -> None:
            infra_store.finish_execution(infra, "FAILED", error="server crashed")
            node_run._finish_run(infra_store, run_id, "infra_validate: server crashed")

        sibling = threading.Thread(target=infra_fails)
        judged = node_run.run_status

        def judge_then_let_the_sibling_fail(*args):
            verdict = judged(*args)
            if not sibling.is_alive() and sibling.ident is None:
                # evaluate has read the executions (infra_validate still RUNNING) and judged
                # SUCCEEDED; infra_validate now fails and settles before evaluate writes, if
                # it can. Under the run's lock it cannot, and waits for evaluate to commit.
                sibling.start()
                sibling.join(timeout=3)
            return verdict

        monkeypatch.setattr(node_run, "run_status", judge_then_let_the_sibling_fail)
        node_run._finish_run(evaluate_store, run_id)
        sibling.join(timeout=120)
        assert not sibling.is_alive()

        run = evaluate_store.run(run_id)
        assert run["status"] == "FAILED"
        assert run["error"] == "infra_validate: server crashed"
    finally:
        evaluate_store.close()
        infra_store.close()
