#!/usr/bin/env python3
"""Train the document classifier once, store the artifact, and evaluate it on held-out data.

With `promote: model` ml-promote runs this only in the first environment (staging): the artifact it
stores is what every later environment evaluates (evaluate.py) and, on a pass, promotes as is.

  ML_PROMOTE_ENVIRONMENT   staging | production (required): whose data to train on
  ML_PROMOTE_OUTPUT_DIR    where metrics.json and training.json go (default out/docs)
  ML_PROMOTE_MODEL         the artifact store's sub-folder (default doc-classifier)
  ML_PROMOTE_SHA, ML_PROMOTE_REF, ML_PROMOTE_RUN_ID   recorded in training.json
  DOCS_ARTIFACT_STORE      artifact store folder (default artifacts/, relative to this project)
  DOCS_DATA_DIR            data cache (default <output dir>/../data-cache)

metrics.json holds the held-out metrics plus `model_uri` (the stored artifact) and `data_version`
(the data it was trained on). The hyper-parameters live in params.json next to this file: they
are code, reviewed and promoted like the rest of it.
"""

import json
import os
import random
import time
from collections import Counter
from pathlib import Path

from runtime import PROJECT, UsageError, context, data_file, log, main_guard, write_atomic
from runtime import write_metrics
from textmodel import (
    ARTIFACT_FORMAT,
    Model,
    classification_metrics,
    data_version,
    features,
    latency_ms,
    read_documents,
    save_artifact,
)

PARAMS_FILE = Path(__file__).resolve().parent / "params.json"


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


PARAM_RULES = {
    "epochs": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "max_features": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "min_count": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "bigrams": (lambda v: isinstance(v, bool), "true or false"),
    "seed": (_is_int, "an integer"),
}


def load_params(path=PARAMS_FILE):
    where = os.path.relpath(path)
    try:
        with open(path, encoding="utf-8") as f:
            params = json.load(f)
    except FileNotFoundError:
        raise UsageError(f"{where}: file not found") from None
    except json.JSONDecodeError as e:
        raise UsageError(f"{where}:{e.lineno}:{e.colno}: not valid JSON: {e.msg}") from None
    if not isinstance(params, dict):
        raise UsageError(f"{where}: must be a JSON object")
    unknown = sorted(set(params) - set(PARAM_RULES))
    if unknown:
        raise UsageError(
            f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(PARAM_RULES)})"
        )
    for key, (valid, expected) in PARAM_RULES.items():
        if key not in params:
            raise UsageError(f"{where}: {key} is missing; it must be {expected}")
        if not valid(params[key]):
            raise UsageError(f"{where}: {key} must be {expected} (got {json.dumps(params[key])})")
    return params


def artifact_store(model):
    store = Path(os.environ.get("DOCS_ARTIFACT_STORE") or "artifacts")
    # Relative to the project, like model_uri: the folder does not depend on where this runs from.
    return (store if store.is_absolute() else PROJECT / store) / model


def model_uri(path):
    """The project-relative path of an artifact inside the project, else its absolute path."""
    path = path.resolve()
    try:
        return path.relative_to(PROJECT.resolve()).as_posix()
    except ValueError:
        return str(path)


def build_vocabulary(feature_sets, params):
    """The max_features features found in the most documents (at least min_count of them)."""
    df = Counter(f for fs in feature_sets for f in fs)
    kept = [f for f, n in df.items() if n >= params["min_count"]]
    # Ties are broken by the feature itself, so the vocabulary never depends on dict order.
    kept.sort(key=lambda f: (-df[f], f))
    return sorted(kept[: params["max_features"]])


def train_perceptron(X, y, n_classes, params):
    """Multi-class averaged perceptron: several passes over the data, the expensive part.

    Averaging the weights over every step (kept cheaply as w - u / c) makes the model far less
    sensitive to the order of the last few examples than the final weights are.
    """
    n_features = max((j for x in X for j in x), default=-1) + 1
    w = [[0.0] * n_features for _ in range(n_classes)]
    u = [[0.0] * n_features for _ in range(n_classes)]
    b, ub = [0.0] * n_classes, [0.0] * n_classes
    rng = random.Random(params["seed"])
    order = list(range(len(X)))
    c = 1
    for epoch in range(1, params["epochs"] + 1):
        rng.shuffle(order)
        mistakes = 0
        for i in order:
            x, truth = X[i], y[i]
            scores = [bk + sum(map(wk.__getitem__, x)) for wk, bk in zip(w, b)]
            guess = max(range(n_classes), key=scores.__getitem__)
            if guess != truth:
                mistakes += 1
                for j in x:
                    w[truth][j] += 1.0
                    w[guess][j] -= 1.0
                    u[truth][j] += c
                    u[guess][j] -= c
                b[truth] += 1.0
                b[guess] -= 1.0
                ub[truth] += c
                ub[guess] -= c
            c += 1
        log(f"epoch {epoch}/{params['epochs']}: {mistakes} training mistakes")
    # Rounded so the artifact's bytes, and so its name, are the same wherever it is trained.
    weights = [[round(a - s / c, 6) + 0.0 for a, s in zip(wk, uk)] for wk, uk in zip(w, u)]
    bias = [round(a - s / c, 6) + 0.0 for a, s in zip(b, ub)]
    return weights, bias


def main():
    started = time.perf_counter()
    ctx = context()
    params = load_params()
    path = data_file(ctx)
    version = data_version(ctx["environment"], path)
    train_docs = read_documents(path, "train")
    test_docs = read_documents(path, "test")
    if not train_docs or not test_docs:
        raise UsageError(f"{path}: needs documents in both the train and the test split")
    classes = sorted({d["label"] for d in train_docs})
    log(
        f"{ctx['model']}: training in {ctx['environment']} on {version} "
        f"({len(train_docs)} train / {len(test_docs)} test documents, {len(classes)} classes)"
    )

    # train_seconds covers featurizing and fitting, not generating or reading the data.
    fit_started = time.perf_counter()
    feature_sets = [features(d["text"], params["bigrams"]) for d in train_docs]
    vocabulary = build_vocabulary(feature_sets, params)
    index = {f: i for i, f in enumerate(vocabulary)}
    X = [sorted(index[f] for f in fs if f in index) for fs in feature_sets]
    y = [classes.index(d["label"]) for d in train_docs]
    log(f"vocabulary: {len(vocabulary)} features")
    weights, bias = train_perceptron(X, y, len(classes), params)
    train_seconds = time.perf_counter() - fit_started

    texts = [d["text"] for d in train_docs]
    labels = Counter(d["label"] for d in train_docs)
    state = {
        "format": ARTIFACT_FORMAT,
        "classes": classes,
        "vocabulary": vocabulary,
        "weights": weights,
        "bias": bias,
        "params": params,
        # What monitoring compares live traffic with. Only facts of the data and the code go in
        # here: the same training must give the same bytes, hence the same model_uri.
        "training": {
            "data_version": version,
            "train_docs": len(train_docs),
            "label_share": {c: round(labels[c] / len(train_docs), 6) for c in classes},
        },
    }
    state["training"]["oov_rate"] = round(Model(state).oov_rate(texts), 6)
    artifact = save_artifact(state, artifact_store(ctx["model"]))
    uri = model_uri(artifact)
    log(f"artifact: {uri}")

    model = Model(state)
    test_texts = [d["text"] for d in test_docs]
    truth = [d["label"] for d in test_docs]
    scores = classification_metrics(classes, truth, model.predict(test_texts))
    metrics = {k: round(v, 6) for k, v in scores.items()}
    metrics["latency_ms"] = round(latency_ms(model, test_texts), 3) or 0.001
    metrics["train_seconds"] = round(train_seconds, 3)
    metrics["train_docs"] = len(train_docs)
    metrics["test_docs"] = len(test_docs)
    metrics["model_uri"] = uri
    metrics["data_version"] = version

    record = {
        "model": ctx["model"],
        "environment": ctx["environment"],
        "sha": ctx["sha"],
        "ref": ctx["ref"],
        "run_id": ctx["run_id"],
        "model_uri": uri,
        "data_version": version,
        "params": params,
    }
    write_atomic(ctx["output_dir"] / "training.json", json.dumps(record, indent=2) + "\n")
    # Last, so a metrics file only ever exists once the artifact it names is stored.
    out = write_metrics(ctx, metrics)
    log("metrics: " + ", ".join(f"{k}={v}" for k, v in metrics.items()))
    log(f"wrote {out} in {time.perf_counter() - started:.2f}s")


if __name__ == "__main__":
    main_guard("train.py", main)
