"""Drift and score logging for the serving side.

A promoted artifact keeps serving while the world changes. These helpers compare live requests
with what the artifact saw in training (recorded in the artifact itself) and write one JSON line
per prediction, so a drop in quality shows up as drift before it shows up as complaints.
Changing this file changes no model: it deploys without retraining.
"""

import json
import sys
import time
from collections import Counter
from pathlib import Path

# The model library is the one training uses, so serving tokenizes exactly as training did.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "models" / "docs"))
from textmodel import tokenize  # noqa: E402

# Total variation distance between the live and the training label mix above which the mix is
# reported as shifted: a quarter of the predictions landing in other classes than in training.
LABEL_SHIFT_ALERT = 0.25
# Points of unknown-token share above the training data's that count as vocabulary drift.
OOV_ALERT = 0.02


class DriftMonitor:
    """Running view of the traffic one artifact serves, against that artifact's training data."""

    def __init__(self, model):
        self.model = model
        self.baseline = model.state["training"]
        self.labels = Counter()
        self.tokens = 0
        self.unknown_tokens = 0

    def observe(self, text, label):
        tokens = tokenize(text)
        self.tokens += len(tokens)
        self.unknown_tokens += sum(t not in self.model.index for t in tokens)
        self.labels[label] += 1

    def report(self):
        seen = sum(self.labels.values())
        share = {c: self.labels[c] / seen if seen else 0.0 for c in self.model.classes}
        base = self.baseline["label_share"]
        shift = sum(abs(share[c] - base.get(c, 0.0)) for c in share) / 2
        oov = self.unknown_tokens / self.tokens if self.tokens else 0.0
        alerts = []
        if seen and shift > LABEL_SHIFT_ALERT:
            alerts.append(f"label mix shifted by {shift:.2f} (alert above {LABEL_SHIFT_ALERT})")
        if seen and oov - self.baseline["oov_rate"] > OOV_ALERT:
            alerts.append(
                f"{oov:.1%} of tokens unknown to the model "
                f"({self.baseline['oov_rate']:.1%} in training)"
            )
        return {
            "documents": seen,
            "label_share": {c: round(v, 4) for c, v in share.items()},
            "label_shift": round(shift, 4),
            "oov_rate": round(oov, 4),
            "baseline_oov_rate": self.baseline["oov_rate"],
            "alerts": alerts,
        }


def log_prediction(model_uri, text, label, scores, stream=None):
    """One JSON line per prediction: enough to recompute metrics once labels arrive."""
    top = sorted(scores, reverse=True)
    record = {
        "ts": round(time.time(), 3),
        "model_uri": model_uri,
        "label": label,
        # A small margin between the two best classes is an unsure prediction.
        "margin": round(top[0] - top[1], 4) if len(top) > 1 else None,
        "chars": len(text),
    }
    (stream or sys.stderr).write(json.dumps(record, sort_keys=True) + "\n")
    return record
