#!/usr/bin/env python3
"""Train and evaluate the fraud detector on the current environment's data.

ml-promote runs this in every environment (staging for pull requests and merges to main,
production for merges to release and the weekly retrain). Everything it needs to know arrives as
environment variables, never as arguments built from event data:

  ML_PROMOTE_ENVIRONMENT   staging | production (required): whose data to train on
  ML_PROMOTE_OUTPUT_DIR    where metrics.json, model.json, model_card.md go (default out/fraud)
  ML_PROMOTE_MODEL, ML_PROMOTE_SHA, ML_PROMOTE_RUN_ID   recorded in the model card
  FRAUD_DATA_SNAPSHOT      data extract to train on (default 1)
  FRAUD_DATA_DIR           data cache (default <output dir>/../data-cache)

The hyper-parameters and the feature list live in params.json next to this file: they are code,
reviewed and promoted like the rest of it.
"""

import csv
import json
import math
import os
import random
import subprocess
import sys
import time
from operator import mul
from pathlib import Path

from features import FEATURES, FeatureError, Featurizer
from predict import Model, sigmoid

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent.parent
PARAMS_FILE = HERE / "params.json"
GENERATOR = PROJECT / "data" / "generate.py"
ENVIRONMENTS = ("staging", "production")
LABEL = "is_fraud"
TEST_FRACTION = 0.25
# Scoring the test split once takes a few milliseconds; a few passes make the figure less jumpy.
LATENCY_PASSES = 3


class UsageError(Exception):
    """A problem with the environment variables or params.json: the user has to fix the input."""


def log(message):
    print(message, flush=True)


def context():
    environment = os.environ.get("ML_PROMOTE_ENVIRONMENT", "")
    if not environment:
        raise UsageError(
            "ML_PROMOTE_ENVIRONMENT is not set; expected one of: " + ", ".join(ENVIRONMENTS)
        )
    if environment not in ENVIRONMENTS:
        expected = ", ".join(ENVIRONMENTS)
        raise UsageError(
            f"ML_PROMOTE_ENVIRONMENT must be one of: {expected} (got {environment!r})"
        )
    snapshot_text = os.environ.get("FRAUD_DATA_SNAPSHOT", "1")
    if not (snapshot_text.isascii() and snapshot_text.isdigit()) or int(snapshot_text) < 1:
        raise UsageError(f"FRAUD_DATA_SNAPSHOT must be a positive integer (got {snapshot_text!r})")
    output_dir = Path(os.environ.get("ML_PROMOTE_OUTPUT_DIR") or "out/fraud")
    data_dir = Path(os.environ.get("FRAUD_DATA_DIR") or output_dir.parent / "data-cache")
    return {
        "environment": environment,
        "snapshot": int(snapshot_text),
        "output_dir": output_dir,
        "data_dir": data_dir,
        "model": os.environ.get("ML_PROMOTE_MODEL") or "fraud-detector",
        "sha": os.environ.get("ML_PROMOTE_SHA") or "unknown",
        "run_id": os.environ.get("ML_PROMOTE_RUN_ID") or "local",
    }


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v):
    return (_is_int(v) or isinstance(v, float)) and math.isfinite(v)


PARAM_RULES = {
    "learning_rate": (lambda v: _is_number(v) and v > 0, "a number > 0"),
    "epochs": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "batch_size": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "l2": (lambda v: _is_number(v) and v >= 0, "a number >= 0"),
    "threshold": (lambda v: _is_number(v) and 0 < v < 1, "a number between 0 and 1 (exclusive)"),
    "seed": (_is_int, "an integer"),
    "features": (
        lambda v: isinstance(v, list)
        and len(v) > 0
        and all(isinstance(f, str) for f in v)
        and len(set(v)) == len(v),
        "a non-empty list of distinct feature names",
    ),
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
    unknown_features = [f for f in params["features"] if f not in FEATURES]
    if unknown_features:
        raise UsageError(
            f"{where}: unknown feature(s) {', '.join(unknown_features)} "
            f"(known: {', '.join(FEATURES)})"
        )
    return params


def load_data(ctx):
    """The environment's transactions, generated into the cache the first time they are needed."""
    snapshot_dir = ctx["data_dir"] / ctx["environment"] / f"snapshot-{ctx['snapshot']}"
    path = snapshot_dir / "transactions.csv"
    if not path.exists():
        subprocess.run(
            [
                sys.executable,
                str(GENERATOR),
                "--environment",
                ctx["environment"],
                "--snapshot",
                str(ctx["snapshot"]),
                "--out",
                str(snapshot_dir),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return path, rows


def stratified_split(labels, seed):
    """Indices of a 75/25 train/test split that keeps the fraud rate equal in both parts."""
    rng = random.Random(seed)
    train, test = [], []
    for cls in (0, 1):
        idx = [i for i, y in enumerate(labels) if y == cls]
        rng.shuffle(idx)
        n_test = round(len(idx) * TEST_FRACTION)
        test.extend(idx[:n_test])
        train.extend(idx[n_test:])
    return sorted(train), sorted(test)


def train_logistic(X, y, params):
    """L2-regularised logistic regression by mini-batch gradient descent."""
    lr, l2, batch_size = params["learning_rate"], params["l2"], params["batch_size"]
    epochs = params["epochs"]
    rng = random.Random(params["seed"])
    n = len(X)
    weights = [0.0] * len(X[0])
    # Start from the base rate's log-odds, so early epochs learn the features rather than the
    # class balance (and an under-trained model predicts "not fraud", not "fraud", by default).
    rate = min(max(sum(y) / n, 1e-6), 1 - 1e-6)
    bias = math.log(rate / (1 - rate))
    order = list(range(n))
    report_every = max(1, epochs // 5)
    for epoch in range(1, epochs + 1):
        rng.shuffle(order)
        loss = 0.0
        for start in range(0, n, batch_size):
            batch = order[start : start + batch_size]
            rows = [X[i] for i in batch]
            probs = [sigmoid(bias + sum(map(mul, weights, r))) for r in rows]
            errors = [p - y[i] for p, i in zip(probs, batch)]
            loss += sum(-math.log(p if y[i] else 1 - p) for p, i in zip(probs, batch) if 0 < p < 1)
            step = lr / len(batch)
            decay = 1 - lr * l2
            weights = [
                w * decay - step * sum(map(mul, errors, col)) for w, col in zip(weights, zip(*rows))
            ]
            bias -= step * sum(errors)
        if epoch % report_every == 0 or epoch == epochs:
            log(f"epoch {epoch}/{epochs}: train log loss {loss / n:.4f}")
    return weights, bias


def auc_score(labels, scores):
    """Area under the ROC curve from ranks (Mann-Whitney U); tied scores share their mean rank."""
    order = sorted(range(len(scores)), key=scores.__getitem__)
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        mean_rank = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[order[k]] = mean_rank
        i = j + 1
    positives = sum(labels)
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        raise ValueError("the test split needs both fraud and non-fraud rows to compute AUC")
    rank_sum = math.fsum(r for r, y in zip(ranks, labels) if y)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def evaluate(labels, scores, threshold):
    predicted = [1 if s >= threshold else 0 for s in scores]
    tp = sum(1 for p, y in zip(predicted, labels) if p and y)
    fp = sum(1 for p, y in zip(predicted, labels) if p and not y)
    fn = sum(1 for p, y in zip(predicted, labels) if not p and y)
    tn = len(labels) - tp - fp - fn
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    eps = 1e-15
    log_loss = -math.fsum(
        math.log(min(max(s, eps), 1 - eps)) if y else math.log(1 - min(max(s, eps), 1 - eps))
        for s, y in zip(scores, labels)
    ) / len(labels)
    return {
        "auc": auc_score(labels, scores),
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "accuracy": (tp + tn) / len(labels),
        "log_loss": log_loss,
    }


def scoring_latency_ms(model, rows):
    """Mean wall time to featurize and score 1,000 rows through the serving code path."""
    start = time.perf_counter()
    for _ in range(LATENCY_PASSES):
        model.predict_proba(rows)
    elapsed = time.perf_counter() - start
    return max(elapsed * 1000 / (LATENCY_PASSES * len(rows)) * 1000, 0.001)


def write_atomic(path, text):
    """Replace path in one step: a reader never sees a half-written metrics or model file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def model_card(ctx, params, metrics, data_path, fraud_rate, featurizer):
    rows = "\n".join(f"| {k} | {v:g} |" for k, v in metrics.items())
    return f"""# Model card: {ctx['model']}

| | |
|---|---|
| Environment | {ctx['environment']} |
| Code commit | `{ctx['sha']}` |
| Run | {ctx['run_id']} |
| Data | `{data_path}` (snapshot {ctx['snapshot']}, fraud rate {fraud_rate:.2%}) |
| Algorithm | L2-regularised logistic regression, mini-batch gradient descent |
| Decision threshold | {params['threshold']} |

## Intended use
Scores card transactions for fraud review in the **{ctx['environment']}** environment. The model
was trained on that environment's data only; its metrics are comparable with other models of the
same environment, not with another environment's.

## Inputs
Features: {', '.join(params['features'])}.
Model inputs after featurization ({len(featurizer.names)}): {', '.join(featurizer.names)}.

## Evaluation (stratified {1 - TEST_FRACTION:.0%}/{TEST_FRACTION:.0%} hold-out split)
| metric | value |
|---|---|
{rows}

## Hyper-parameters
```json
{json.dumps(params, indent=2)}
```

## Limitations
A linear model: it ranks by a weighted sum of the inputs and misses interactions between them.
Scores are calibrated to the training fraud rate; a shift in the fraud rate needs a retrain.
"""


def main():
    started = time.perf_counter()
    ctx = context()
    params = load_params()
    data_path, rows = load_data(ctx)
    columns = set(rows[0]) if rows else set()
    missing = [c for c in [*params["features"], LABEL] if c not in columns]
    if missing:
        raise UsageError(f"{data_path}: missing column(s) {', '.join(missing)}")
    labels = [int(r[LABEL]) for r in rows]
    if len(set(labels)) < 2:
        raise UsageError(f"{data_path}: needs both fraud and non-fraud rows to train and evaluate")
    fraud_rate = sum(labels) / len(labels)
    log(
        f"{ctx['model']}: training in {ctx['environment']} on {data_path} "
        f"({len(rows)} rows, snapshot {ctx['snapshot']}, fraud rate {fraud_rate:.1%})"
    )

    train_idx, test_idx = stratified_split(labels, params["seed"])
    train_rows = [rows[i] for i in train_idx]
    test_rows = [rows[i] for i in test_idx]
    featurizer = Featurizer.fit(train_rows, params["features"])
    X = featurizer.transform(train_rows)
    y = [labels[i] for i in train_idx]
    log(f"split: {len(train_rows)} train / {len(test_rows)} test, {len(featurizer.names)} inputs")

    weights, bias = train_logistic(X, y, params)
    model = Model(featurizer, weights, bias, params["threshold"])
    test_labels = [labels[i] for i in test_idx]
    metrics = evaluate(test_labels, model.predict_proba(test_rows), params["threshold"])
    metrics = {k: round(v, 6) for k, v in metrics.items()}
    metrics["latency_ms"] = round(scoring_latency_ms(model, test_rows), 3) or 0.001
    metrics["train_rows"] = len(train_rows)
    metrics["test_rows"] = len(test_rows)

    out = ctx["output_dir"]
    state = {
        "model": ctx["model"],
        "environment": ctx["environment"],
        "sha": ctx["sha"],
        "params": params,
        "featurizer": featurizer.state(),
        "weights": weights,
        "bias": bias,
    }
    write_atomic(out / "model.json", json.dumps(state, indent=2) + "\n")
    write_atomic(
        out / "model_card.md", model_card(ctx, params, metrics, data_path, fraud_rate, featurizer)
    )
    # Last, so a metrics file only ever exists next to the model it describes.
    write_atomic(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    log("metrics: " + ", ".join(f"{k}={v:g}" for k, v in metrics.items()))
    log(f"wrote {out / 'metrics.json'} in {time.perf_counter() - started:.2f}s")


if __name__ == "__main__":
    try:
        main()
    except (UsageError, FeatureError) as e:
        print(f"train.py: error: {e}", file=sys.stderr)
        sys.exit(2)
    except subprocess.CalledProcessError as e:
        message = f"data generation failed (exit code {e.returncode})"
        print(f"train.py: error: {message}", file=sys.stderr)
        sys.exit(1)
