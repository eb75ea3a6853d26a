"""The train components: train_text (a Keras 3 recurrent text classifier) and train_series (a
recurrent forecaster), each exported with the TFT graph inside, sharing one training loop.

Modules (text_component.py and series_component.py are thin shells over shell.py; the rest are
the pure core they wire):
    config.py            TrainTextConfig / TrainSeriesConfig (sharing TrainingConfig) /
                         ModelConfig / ForecasterConfig / EarlyStoppingConfig / ReduceLRConfig
    models.py            build_text_model(config, vocab_size, max_tokens, num_classes, keras_module)
    cudnn.py             cudnn_incompatibilities(config), warn_if_cudnn_disabled(config)
    strategy.py          choose_strategy(...) and why multi-worker trains with tf_keras
    data.py              tf.data pipelines over TransformedExamples
    callbacks.py         callbacks and the resumable work dir {pipeline_root}/_work/...
    backup.py            AtomicBackupAndRestore: atomic backup writes, unreadable = start over
    tensorboard_logs.py  TensorBoard scalars without the tensorboard package
    history.py, curves.py  CSVLogger history of resumed runs, training-curve PNG
    training.py          train_model, the shared loop: strategy -> data -> model -> fit -> best
                         weights; train_text_classifier and train_forecaster build its task
    export.py            the classifier's SavedModel (serving_default, predict_text)
    forecasters.py, series_export.py  the forecaster and its SavedModel (forecast)
    worker.py            `python -m seqline.components.train.worker` for multi-worker tasks
    overrides.py         apply_overrides(config, values): tuned values (tune_text) onto the config
"""
