#!/usr/bin/env python3
"""Evaluate a stored artifact on the current environment's held-out data. It never trains.

With `promote: model` ml-promote runs this in every environment after the first: the artifact
staging trained and promoted is scored on this environment's own data, and a pass promotes that
very artifact. Context arrives as environment variables only:

  ML_PROMOTE_MODEL_URI     the artifact to evaluate (required): a path, relative to this project
                           or absolute, or a file: URI
  ML_PROMOTE_ENVIRONMENT   staging | production (required): whose held-out data to score
  ML_PROMOTE_OUTPUT_DIR    where metrics.json goes (default out/docs)
  DOCS_DATA_DIR            data cache (default <output dir>/../data-cache)

metrics.json holds the same metric names training reports for held-out data, plus `data_version`;
no `model_uri`, since nothing new was trained.
"""

import os
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

from runtime import PROJECT, UsageError, context, data_file, log, main_guard, write_metrics
from textmodel import ArtifactError, classification_metrics, data_version, latency_ms
from textmodel import load_artifact, read_documents


def artifact_path(uri):
    """The local file `uri` names. Other stores' URIs need fetching first; say so."""
    if not uri:
        raise UsageError(
            "ML_PROMOTE_MODEL_URI is not set; it names the artifact to evaluate "
            "(the model_uri training reported)"
        )
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    # One letter is a Windows drive, not a scheme.
    if len(parsed.scheme) > 1:
        raise UsageError(
            f"ML_PROMOTE_MODEL_URI {uri!r} is not a local path; this example reads artifacts from "
            "a folder, so download it first (e.g. `mlflow artifacts download`) and evaluate the "
            "file"
        )
    path = Path(uri)
    # Relative to the project, as train.py reports it, wherever this runs from.
    return path if path.is_absolute() else PROJECT / path


def main():
    started = time.perf_counter()
    uri = os.environ.get("ML_PROMOTE_MODEL_URI", "")
    path = artifact_path(uri)
    ctx = context()
    try:
        model = load_artifact(path)
    except ArtifactError as e:
        raise UsageError(f"ML_PROMOTE_MODEL_URI {uri!r}: {e}") from None

    data = data_file(ctx)
    version = data_version(ctx["environment"], data)
    test_docs = read_documents(data, "test")
    if not test_docs:
        raise UsageError(f"{data}: no documents in the test split")
    trained_on = model.state["training"]["data_version"]
    log(
        f"{ctx['model']}: evaluating {uri} (trained on {trained_on}) in {ctx['environment']} "
        f"on {version} ({len(test_docs)} held-out documents)"
    )

    texts = [d["text"] for d in test_docs]
    truth = [d["label"] for d in test_docs]
    unknown = sorted(set(truth) - set(model.classes))
    if unknown:
        log(f"warning: the artifact cannot predict label(s) {', '.join(unknown)}")
    classes = sorted(set(model.classes) | set(truth))
    scores = classification_metrics(classes, truth, model.predict(texts))
    metrics = {k: round(v, 6) for k, v in scores.items()}
    metrics["latency_ms"] = round(latency_ms(model, texts), 3) or 0.001
    # How much data the evaluated artifact learned from: a fact of the artifact, not of this run.
    metrics["train_docs"] = model.state["training"]["train_docs"]
    metrics["test_docs"] = len(test_docs)
    metrics["data_version"] = version
    log(
        f"vocabulary drift: {model.oov_rate(texts):.1%} of tokens unknown to the artifact "
        f"({model.state['training']['oov_rate']:.1%} in its training data)"
    )

    out = write_metrics(ctx, metrics)
    log("metrics: " + ", ".join(f"{k}={v}" for k, v in metrics.items()))
    log(f"wrote {out} in {time.perf_counter() - started:.2f}s")


if __name__ == "__main__":
    main_guard("evaluate.py", main)
