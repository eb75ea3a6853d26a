"""The evaluate components: evaluate_text (classifiers) and evaluate_series (forecasters)."""
