"""Clients of a TF Serving (or `seqline serve`) server: everything a client host needs.

client.py (gRPC PredictionClient), rest_client.py (RestClient), their shared client_base,
retry, model_info (GetModelStatus / waiting for a version), forecasting and forecast_cli.
Imports no seqline.serving.server module, so a client host needs no server code.
"""
