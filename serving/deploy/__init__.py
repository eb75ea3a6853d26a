"""Changing what a server serves: warmup records (warmup.py), models.config files
(config_file.py; the ModelConfig type is seqline.serving.model_config), asking a server to
reload its config (reload.py), and rolling a model back to an earlier version (rollback.py).
Used by the push and infra_validate components and by `seqline rollback`.
"""
