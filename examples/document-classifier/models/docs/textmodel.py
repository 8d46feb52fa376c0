"""The document classifier as training, evaluation and serving all see it.

Featurization, scoring and the artifact format live here only, so an artifact is always scored
with exactly the transformation it was trained with, wherever it is loaded.

An artifact is one JSON file named after the SHA-256 of its own bytes (`<first 16 hex>.json`):
identical training gives an identical file and name, and a file whose bytes no longer match its
name was changed after training and is refused.
"""

import hashlib
import json
import re
import time
from pathlib import Path

ARTIFACT_FORMAT = "ml-promote-example/doc-classifier@1"
HASH_CHARS = 16
_TOKEN = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")


class ArtifactError(Exception):
    """An artifact that cannot be used: missing, unreadable, modified or of another format."""


def tokenize(text):
    return _TOKEN.findall(text.lower())


def features(text, bigrams):
    """Distinct unigrams, and bigrams as "w1 w2" (a space never occurs inside a unigram)."""
    tokens = tokenize(text)
    out = set(tokens)
    if bigrams:
        out.update(f"{a} {b}" for a, b in zip(tokens, tokens[1:]))
    return out


class Model:
    """A linear multi-class model over binary word (and bigram) features."""

    def __init__(self, state):
        self.state = state
        self.classes = list(state["classes"])
        self.vocabulary = list(state["vocabulary"])
        self.index = {f: i for i, f in enumerate(self.vocabulary)}
        self.weights = [list(w) for w in state["weights"]]
        self.bias = list(state["bias"])
        self.bigrams = bool(state["params"]["bigrams"])

    def encode(self, text):
        """Vocabulary indices of the text's features, sorted; unknown features are dropped."""
        index = self.index
        return sorted(index[f] for f in features(text, self.bigrams) if f in index)

    def scores(self, text):
        idx = self.encode(text)
        return [b + sum(map(w.__getitem__, idx)) for w, b in zip(self.weights, self.bias)]

    def predict(self, texts):
        out = []
        for text in texts:
            s = self.scores(text)
            # Ties go to the first class, so equal scores always give the same answer.
            out.append(self.classes[max(range(len(s)), key=s.__getitem__)])
        return out

    def oov_rate(self, texts):
        """Share of tokens that are not in the vocabulary: rises when the input's wording drifts."""
        total = unknown = 0
        for text in texts:
            for token in tokenize(text):
                total += 1
                unknown += token not in self.index
        return unknown / total if total else 0.0


def artifact_bytes(state):
    # Sorted keys and no optional whitespace: the same model always serializes to the same bytes.
    return (json.dumps(state, sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8")


def content_name(data):
    return hashlib.sha256(data).hexdigest()[:HASH_CHARS] + ".json"


def save_artifact(state, store):
    """Writes the artifact into `store` under its content name unless it is there already."""
    data = artifact_bytes(state)
    path = Path(store) / content_name(data)
    if path.exists() and path.read_bytes() == data:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{time.time_ns()}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def load_artifact(path):
    """The Model in the artifact at `path`, after checking its bytes against its name."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ArtifactError(f"{path}: no such artifact") from None
    except OSError as e:
        raise ArtifactError(f"{path}: cannot read the artifact: {e.strerror}") from None
    stem = path.stem
    if re.fullmatch(f"[0-9a-f]{{{HASH_CHARS}}}", stem) and content_name(data) != path.name:
        raise ArtifactError(
            f"{path}: content does not match its name (sha256 {content_name(data)[:-5]}): "
            "the artifact was modified after training"
        )
    try:
        state = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ArtifactError(f"{path}: not a JSON artifact: {e}") from None
    if not isinstance(state, dict) or state.get("format") != ARTIFACT_FORMAT:
        raise ArtifactError(f"{path}: not a {ARTIFACT_FORMAT} artifact")
    try:
        return Model(state)
    except (KeyError, TypeError, ValueError) as e:
        raise ArtifactError(f"{path}: incomplete artifact ({e!r})") from None


def data_version(environment, path):
    """Names a data set by its environment and content, so a changed extract gets a new name."""
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return f"{environment}/documents@sha256:{digest[:12]}"


def read_documents(path, split):
    with open(path, encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    return [r for r in records if r["split"] == split]


def classification_metrics(classes, truth, predicted):
    """Accuracy and the unweighted mean of the per-class F1 scores (rare classes count fully)."""
    n = len(truth)
    accuracy = sum(t == p for t, p in zip(truth, predicted)) / n
    f1s = []
    for c in classes:
        tp = sum(t == c and p == c for t, p in zip(truth, predicted))
        fp = sum(t != c and p == c for t, p in zip(truth, predicted))
        fn = sum(t == c and p != c for t, p in zip(truth, predicted))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return {"accuracy": accuracy, "macro_f1": sum(f1s) / len(f1s)}


def latency_ms(model, texts, docs=1000, passes=3):
    """Milliseconds to featurize and classify `docs` documents (cycling through `texts`)."""
    batch = [texts[i % len(texts)] for i in range(docs)]
    timings = []
    for _ in range(passes):
        started = time.perf_counter()
        model.predict(batch)
        timings.append(time.perf_counter() - started)
    # The fastest of a few passes: the one least disturbed by whatever else the machine is doing.
    return min(timings) * 1000
