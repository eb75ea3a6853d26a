"""seqline.storage: the filesystem layer below both pipeline/ and serving/.

`seqline.storage.filesystem` wraps tf.io.gfile (local paths and file:// URLs, gs://; s3:// and
hdfs:// once the `tensorflow-io` package is installed) with atomic writes and renames. It
imports nothing from the other seqline packages, so a serving host can use it without the
pipeline code.
"""
