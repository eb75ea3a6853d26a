"""predict_sentiment: send raw review strings to a served seqline text model; print label + p.

The pushed text model exports a ``predict_text`` signature (input ``text`` tf.string [None];
outputs ``probabilities`` float32 [None, n_classes], ``class_ids`` int64 [None], ``classes``
string [None]), so a client sends raw strings: tokenisation and the TFT vocabulary run inside
the served graph. This script uses seqline's REST client (urllib + json, no TensorFlow), so it
runs on any host that can reach `seqline serve` or a real tensorflow_model_server's REST port.

    seqline serve --model_name imdb --model_base_path runs/imdb/serving/imdb --rest_api_port 8501
    python examples/imdb/predict_sentiment.py --url http://127.0.0.1:8501 --model imdb \
        "A moving, beautifully shot film." "Two hours I will never get back."

prints one line per text: the label, its probability (3 decimals) and the text.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from seqline.serving.client.rest_client import RestClient

PREDICT_TEXT_SIGNATURE = "predict_text"


@dataclass(frozen=True)
class Sentiment:
    """One prediction: the text, its predicted label and that label's probability in [0, 1]."""

    text: str
    label: str
    probability: float


def predict_sentiment(client: RestClient, texts: Sequence[str]) -> list[Sentiment]:
    """Predicts the label of each raw text with the served model's ``predict_text`` signature.

    Args:
        client: a RestClient for the served model (its signature_name is not used: this always
            calls ``predict_text``).
        texts: raw strings, any length >= 1.
    Returns:
        one Sentiment per text, in order; probability is the predicted class's probability.
    Raises:
        ValueError: texts is empty.
        RequestFailed: the server refused the request (e.g. the model has no predict_text).
    """
    if not texts:
        raise ValueError("texts: expected at least one string to classify, got none")
    outputs = client.predict(
        {"text": [t.encode("utf-8") for t in texts]}, signature_name=PREDICT_TEXT_SIGNATURE
    )
    probabilities = outputs["probabilities"]  # [n, n_classes]
    class_ids = outputs["class_ids"]  # [n]
    classes = outputs["classes"]  # [n], bytes
    return [
        Sentiment(
            text=text,
            label=label.decode("utf-8") if isinstance(label, bytes) else str(label),
            probability=float(probabilities[i, int(class_ids[i])]),
        )
        for i, (text, label) in enumerate(zip(texts, classes, strict=True))
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: predicts each positional text (or each stdin line when none) and prints them."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8501", help="server REST base URL")
    parser.add_argument("--model", default="imdb", help="served model name")
    parser.add_argument("--timeout", type=float, default=10.0, help="request deadline, seconds")
    parser.add_argument("texts", nargs="*", help="raw texts (default: one per stdin line)")
    args = parser.parse_args(argv)
    texts = args.texts or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    client = RestClient(args.url, args.model, timeout=args.timeout)
    for s in predict_sentiment(client, texts):
        print(f"{s.label:<10} {s.probability:.3f}  {s.text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
