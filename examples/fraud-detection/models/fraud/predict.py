#!/usr/bin/env python3
"""Score transactions with a trained fraud model (the serving side).

    python3 models/fraud/predict.py --model out/fraud/model.json --input transactions.csv \
        [--output scores.csv]

writes transaction_id,score,is_fraud_predicted. Training evaluates through this same Model class,
so the metrics describe exactly what serving does.
"""

import argparse
import csv
import json
import math
import sys
from operator import mul

from features import FeatureError, Featurizer


def sigmoid(z):
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


class Model:
    def __init__(self, featurizer, weights, bias, threshold):
        self.featurizer = featurizer
        self.weights = weights
        self.bias = bias
        self.threshold = threshold

    @classmethod
    def load(cls, path):
        with open(path, encoding="utf-8") as f:
            state = json.load(f)
        return cls(
            Featurizer(state["featurizer"]),
            state["weights"],
            state["bias"],
            state["params"]["threshold"],
        )

    def predict_proba(self, rows):
        """Fraud probability of each transaction (dicts of raw column values)."""
        w, b = self.weights, self.bias
        return [sigmoid(b + sum(map(mul, w, x))) for x in self.featurizer.transform(rows)]


def main(argv=None):
    parser = argparse.ArgumentParser(description="Score a transactions CSV with a saved model.")
    parser.add_argument("--model", required=True, help="model.json written by train.py")
    parser.add_argument("--input", required=True, help="CSV with the model's feature columns")
    parser.add_argument("--output", help="where to write the scores (default: stdout)")
    args = parser.parse_args(argv)

    model = Model.load(args.model)
    with open(args.input, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    try:
        scores = model.predict_proba(rows)
    except FeatureError as e:
        print(f"predict.py: error: {args.input}: {e}", file=sys.stderr)
        return 1

    out = open(args.output, "w", encoding="utf-8", newline="") if args.output else sys.stdout
    try:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["transaction_id", "score", "is_fraud_predicted"])
        for row, score in zip(rows, scores):
            flagged = int(score >= model.threshold)
            writer.writerow([row.get("transaction_id", ""), f"{score:.6f}", flagged])
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
