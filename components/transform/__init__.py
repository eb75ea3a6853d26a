"""The transform components: transform_text (vocabulary, token ids) and transform_series
(scaling), sharing one TFT Beam pipeline."""
