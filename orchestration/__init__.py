"""Running seqline pipelines from orchestrators: one task per node, each `seqline run --node`.

    settings.py   the config's `orchestration:` block (retries, timeouts, resources per node)
    commands.py   the graph of a config and the command line of one node's task
    airflow.py    an Airflow 3 DAG from a config (needs seqline[airflow])
    kfp.py        a Kubeflow Pipelines v2 PipelineSpec from a config (needs seqline[kfp])

See docs/orchestration.md.
"""
