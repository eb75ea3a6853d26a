"""The Beam side of pii_scrub: one composite PTransform over every split of an Examples artifact.

    {split: file pattern} -> {out_uri}/{split}/data-SSSSS-of-NNNNN.tfrecord.gz   (scrubbed)
                          -> {rejected_uri}/rejected-SSSSS-of-NNNNN.jsonl         (with reasons)
                          -> counts JSON: {"split:accepted": n, "split:rejected": n,
                                           "reason:mostly_pii": n, "found:email": n, ...}

Rejected lines hold the *masked* text: the point of the step is that PII goes nowhere.
Imported by the executor only (it imports Beam and TensorFlow).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes

from pii_scrub.scrubbing import rejection_reason, scrub
from seqline.pipeline.beam_io import WriteJsonFn, WriteRejections
from seqline.pipeline.quarantine import Rejection, record_text
from seqline.schemas.text import TEXT_KEY

REJECTED = "rejected"
COUNTS = "counts"
MAX_RECORD_CHARS = 2000


class ScrubFn(beam.DoFn):
    """Serialized tf.Example -> scrubbed serialized tf.Example (main output), Rejection
    (REJECTED), and (key, n) counts (COUNTS)."""

    def __init__(self, split: str, kinds: Sequence[str], max_pii_fraction: float) -> None:
        self._split, self._kinds, self._max = split, tuple(kinds), max_pii_fraction

    def setup(self) -> None:
        import tensorflow as tf

        self._example_type = tf.train.Example

    def process(self, serialized: bytes) -> Iterator[Any]:
        example = self._example_type.FromString(serialized)
        values = example.features.feature[TEXT_KEY].bytes_list.value
        text = values[0].decode("utf-8") if values else ""
        scrubbed = scrub(text, self._kinds)
        for kind, n in scrubbed.found.items():
            yield beam.pvalue.TaggedOutput(COUNTS, (f"found:{kind}", n))
        reason = rejection_reason(scrubbed, self._max)
        if reason is not None:
            yield beam.pvalue.TaggedOutput(COUNTS, (f"{self._split}:rejected", 1))
            yield beam.pvalue.TaggedOutput(COUNTS, (f"reason:{reason}", 1))
            yield beam.pvalue.TaggedOutput(
                REJECTED,
                Rejection(
                    source=self._split,
                    position=0,  # records are read in parallel: no stable position
                    reason=reason,
                    message=f"{scrubbed.pii_fraction:.0%} of the text is PII",
                    record=record_text(scrubbed.text, MAX_RECORD_CHARS),
                ),
            )
            return
        yield beam.pvalue.TaggedOutput(COUNTS, (f"{self._split}:accepted", 1))
        example.features.feature[TEXT_KEY].bytes_list.value[:] = [scrubbed.text.encode("utf-8")]
        yield example.SerializeToString()


def _as_dict(pairs: list[tuple[str, int]]) -> dict[str, int]:
    return dict(pairs)


class ScrubExamples(beam.PTransform):
    """PBegin -> writes the scrubbed splits, the rejected records and the counts JSON."""

    def __init__(
        self,
        split_patterns: Mapping[str, str],
        out_uri: str,
        rejected_uri: str,
        counts_path: str,
        kinds: Sequence[str],
        max_pii_fraction: float,
    ) -> None:
        super().__init__()
        self._splits = dict(split_patterns)
        self._out, self._rejected, self._counts = out_uri.rstrip("/"), rejected_uri, counts_path
        self._kinds, self._max = tuple(kinds), max_pii_fraction

    def expand(self, begin: beam.pvalue.PBegin) -> Any:
        rejected, counts = [], []
        for split, pattern in self._splits.items():
            outputs = (
                begin
                | f"Read[{split}]"
                >> beam.io.ReadFromTFRecord(pattern, compression_type=CompressionTypes.GZIP)
                | f"Scrub[{split}]"
                >> beam.ParDo(ScrubFn(split, self._kinds, self._max)).with_outputs(
                    REJECTED, COUNTS, main="kept"
                )
            )
            _ = outputs.kept | f"Write[{split}]" >> beam.io.WriteToTFRecord(
                f"{self._out}/{split}/data",
                file_name_suffix=".tfrecord.gz",
                compression_type=CompressionTypes.GZIP,
            )
            rejected.append(outputs[REJECTED])
            counts.append(outputs[COUNTS])
        _ = tuple(rejected) | "AllRejected" >> beam.Flatten() | WriteRejections(self._rejected)
        return (
            tuple(counts)
            | "AllCounts" >> beam.Flatten()
            | "Sum" >> beam.CombinePerKey(sum)
            | "Gather" >> beam.combiners.ToList()
            | "WriteCounts" >> beam.ParDo(WriteJsonFn(self._counts, _as_dict))
        )
