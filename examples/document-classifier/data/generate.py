"""Seeded generator of the support tickets each environment classifies.

In a real deployment every environment reads its own documents from its own store and production
data never leaves production. Here both are simulated from one topic mechanism: four ticket
classes, each with its own vocabulary, buried in shared filler words. Production is a different
population of the same mechanism (another class mix, a little more noise) with vocabulary drift:
customers there use some words staging never saw, so a model trained in staging loses a little
accuracy on production data, as a real model does when it moves to live traffic.

    python3 data/generate.py --environment staging --out DIR

writes DIR/documents.jsonl, one {"id", "text", "label", "split"} object a line; `split` is
`train` for three quarters of each class and `test` for the rest, fixed by the data so training
and every later evaluation agree on what is held out. The same arguments always produce the same
bytes.
"""

import argparse
import json
import os
import random
import sys

# Bumped whenever the generator's output changes, so data versions never name two data sets.
GENERATOR_VERSION = 1

CLASSES = ("billing", "technical", "shipping", "account")

# Words that mark each class, most telling first. Some appear under two classes ("payment",
# "order", "update"...): real tickets overlap, and no model should reach 100 %.
TOPIC_WORDS = {
    "billing": (
        "invoice charged refund payment card charge billing subscription price fee "
        "receipt overcharged plan renewal discount vat tax credit statement amount "
        "cancelled twice paid order annual"
    ).split(),
    "technical": (
        "error crash app install update bug screen loading login sync server timeout "
        "browser version broken reinstall slow firmware connection settings data "
        "freezes android iphone update"
    ).split(),
    "shipping": (
        "delivery package shipped tracking courier arrived parcel address order "
        "warehouse delayed lost dispatch carrier box damaged return label week "
        "shipment customs postcode doorstep signed"
    ).split(),
    "account": (
        "password account email username locked reset profile verify signup "
        "two-factor code security delete privacy settings login name phone "
        "deactivate access recover payment update"
    ).split(),
}

# Phrases that only make sense together: a bigram model can read them, a unigram model sees only
# their (shared) words.
PHRASES = {
    "billing": ["charged twice", "money back", "wrong amount", "cancel subscription"],
    "technical": ["keeps crashing", "does not load", "error message", "stopped working"],
    "shipping": ["not arrived", "wrong address", "where is", "still waiting"],
    "account": ["cannot log", "forgot password", "change email", "locked out"],
}

FILLER = (
    "the a i my to and is it of for on this in have was with please can you not but "
    "help hi hello thanks thank we be your me at what when why how do does did get got "
    "still again today yesterday just now already since after before an any there they "
    "that would could should need want know see tried try been has had are were will "
    "so if or as from by up out about all one some more very really back also here "
    "customer support team issue problem question ticket asap urgent regards best "
    "time days hours morning evening weekend monday friday week month thing"
).split()

# Production customers phrase some things differently: these staging words are, some of the
# time, replaced by words no staging ticket contains.
DRIFT = {
    "invoice": "bill",
    "refund": "reimbursement",
    "charged": "debited",
    "crash": "hang",
    "error": "glitch",
    "app": "application",
    "delivery": "drop-off",
    "package": "consignment",
    "tracking": "trace",
    "password": "passcode",
    "locked": "blocked",
    "email": "e-mail",
}

POPULATIONS = {
    "staging": {
        "docs": 4000,
        "class_mix": {"billing": 0.30, "technical": 0.30, "shipping": 0.20, "account": 0.20},
        "topic_share": 0.20,
        "drift": 0.0,
        "label_noise": 0.02,
    },
    "production": {
        "docs": 4000,
        "class_mix": {"billing": 0.22, "technical": 0.26, "shipping": 0.30, "account": 0.22},
        "topic_share": 0.18,
        "drift": 0.35,
        "label_noise": 0.03,
    },
}

ENVIRONMENTS = tuple(POPULATIONS)
TEST_FRACTION = 0.25


def _document(rng, label, pop):
    length = rng.randint(12, 40)
    words = TOPIC_WORDS[label]
    # Zipf-like: a class's first words are its commonest.
    topic_weights = [1 / (rank + 1) for rank in range(len(words))]
    tokens = []
    while len(tokens) < length:
        r = rng.random()
        if r < pop["topic_share"]:
            word = rng.choices(words, topic_weights)[0]
            if word in DRIFT and rng.random() < pop["drift"]:
                word = DRIFT[word]
            tokens.append(word)
        elif r < pop["topic_share"] + 0.04:
            tokens.extend(rng.choice(PHRASES[label]).split())
        elif r < pop["topic_share"] + 0.07:
            # A word of another class: tickets wander.
            other = rng.choice([c for c in CLASSES if c != label])
            tokens.append(rng.choice(TOPIC_WORDS[other]))
        else:
            tokens.append(rng.choice(FILLER))
    text = " ".join(tokens)
    return text[0].upper() + text[1:] + rng.choice([".", "!", "?", " :("])


def generate(environment):
    """Records (dicts with id, text, label, split) of one environment's documents."""
    if environment not in POPULATIONS:
        expected = ", ".join(ENVIRONMENTS)
        raise ValueError(f"unknown environment {environment!r} (expected one of {expected})")
    pop = POPULATIONS[environment]
    # A string seed is hashed with SHA-512 by random.seed, so it does not depend on PYTHONHASHSEED.
    rng = random.Random(f"document-classifier/{environment}/{GENERATOR_VERSION}")
    labels = rng.choices(list(pop["class_mix"]), list(pop["class_mix"].values()), k=pop["docs"])
    records = []
    for i, label in enumerate(labels):
        text = _document(rng, label, pop)
        # Mislabelled tickets, as any human-labelled set has.
        if rng.random() < pop["label_noise"]:
            label = rng.choice(CLASSES)
        records.append({"id": f"{environment[0]}-{i:05d}", "text": text, "label": label})
    # Hold out a quarter of each class, so the test split has the population's class mix.
    for cls in CLASSES:
        members = [r for r in records if r["label"] == cls]
        rng.shuffle(members)
        n_test = round(len(members) * TEST_FRACTION)
        for k, record in enumerate(members):
            record["split"] = "test" if k < n_test else "train"
    return records


def write(environment, out_dir):
    """Write out_dir/documents.jsonl atomically: concurrent runs may share a data cache."""
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "documents.jsonl")
    tmp = os.path.join(out_dir, f".documents.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            for record in generate(environment):
                f.write(json.dumps(record, sort_keys=True) + "\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description="Generate one environment's documents.jsonl.")
    parser.add_argument("--environment", required=True, choices=ENVIRONMENTS)
    parser.add_argument("--out", required=True, help="directory to write documents.jsonl into")
    args = parser.parse_args(argv)
    print(f"wrote {write(args.environment, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
