"""The TF-Serving-compatible model server (`seqline serve`): only a serving host needs it.

server.py starts it (gRPC + REST); grpc_service / rest_service speak TF Serving's APIs;
inference, batching, signature_runner and servable run SavedModels; model_manager loads and
unloads versions (listed by seqline.serving.version_dirs) and replays warmup (warmup_replay);
metrics / tf_metrics, server_flags, server_config_files, tls, request parsing (json_codec).
"""
