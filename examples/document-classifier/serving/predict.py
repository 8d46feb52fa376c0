#!/usr/bin/env python3
"""Serve a promoted artifact: a small request handler, and a command line around it.

    python3 serving/predict.py --model artifacts/doc-classifier/<hash>.json < requests.jsonl

reads one request a line, {"text": "..."} or {"texts": ["...", ...]}, and writes one response a
line: {"predictions": [{"label": ..., "scores": {class: score}}], "model_uri": ...}, or
{"error": ...} for a bad request. With --monitor, a drift report against the artifact's training
data goes to stderr at the end. The artifact is whatever the environment promoted: this code only
loads it, so a change here deploys without retraining.
"""

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "models" / "docs"))
from textmodel import ArtifactError, load_artifact  # noqa: E402

from monitoring import DriftMonitor, log_prediction  # noqa: E402

MAX_TEXTS = 256
MAX_CHARS = 20_000


class RequestError(ValueError):
    pass


class Handler:
    def __init__(self, model_uri, log_stream=None, monitor=False):
        path = Path(model_uri)
        self.model = load_artifact(path if path.is_absolute() else HERE.parent / path)
        self.model_uri = model_uri
        self.log_stream = log_stream
        self.monitor = DriftMonitor(self.model) if monitor else None

    def texts(self, request):
        if not isinstance(request, dict):
            raise RequestError("a request is a JSON object")
        if "text" in request:
            texts = [request["text"]]
        elif "texts" in request and isinstance(request["texts"], list):
            texts = request["texts"]
        else:
            raise RequestError('a request has "text" (a string) or "texts" (a list of strings)')
        if len(texts) > MAX_TEXTS:
            raise RequestError(f"at most {MAX_TEXTS} texts per request")
        for t in texts:
            if not isinstance(t, str):
                raise RequestError("every text must be a string")
            if len(t) > MAX_CHARS:
                raise RequestError(f"a text has at most {MAX_CHARS} characters")
        return texts

    def handle(self, request):
        """(status, body) for one decoded request."""
        try:
            texts = self.texts(request)
        except RequestError as e:
            return 400, {"error": str(e)}
        predictions = []
        for text in texts:
            scores = self.model.scores(text)
            label = self.model.classes[max(range(len(scores)), key=scores.__getitem__)]
            predictions.append(
                {
                    "label": label,
                    "scores": {c: round(s, 4) for c, s in zip(self.model.classes, scores)},
                }
            )
            if self.log_stream is not None:
                log_prediction(self.model_uri, text, label, scores, self.log_stream)
            if self.monitor is not None:
                self.monitor.observe(text, label)
        return 200, {"predictions": predictions, "model_uri": self.model_uri}


def main(argv=None):
    parser = argparse.ArgumentParser(description="Classify JSON-lines requests with an artifact.")
    parser.add_argument("--model", required=True, help="artifact path (a model_uri train.py wrote)")
    parser.add_argument("--monitor", action="store_true", help="report drift on stderr at the end")
    args = parser.parse_args(argv)
    try:
        handler = Handler(args.model, monitor=args.monitor)
    except ArtifactError as e:
        print(f"predict.py: error: {e}", file=sys.stderr)
        return 2
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
        except json.JSONDecodeError as e:
            status, body = 400, {"error": f"not JSON: {e.msg}"}
        else:
            status, body = handler.handle(request)
        print(json.dumps(body if status == 200 else {"status": status, **body}), flush=True)
    if handler.monitor is not None:
        print(json.dumps({"drift": handler.monitor.report()}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
