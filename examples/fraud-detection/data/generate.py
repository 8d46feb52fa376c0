"""Seeded generator of the fraud data set each environment trains on.

In a real deployment every environment reads its own transactions from its own warehouse and
production data never leaves production. Here the two environments are simulated: each one is a
distinct population (size, fraud rate, customer mix) drawn from the same underlying fraud
mechanism, so code that learns that mechanism works in both, and a model is only ever comparable
with models trained on the same environment's data.

    python3 data/generate.py --environment staging --snapshot 1 --out DIR

writes DIR/transactions.csv. The same arguments always produce the same bytes; a higher
--snapshot is a newer extract of the same environment, with slight drift.
"""

import argparse
import csv
import io
import math
import os
import random
import sys

COLUMNS = [
    "transaction_id",
    "amount",
    "hour",
    "merchant_category",
    "distance_from_home",
    "card_present",
    "velocity_24h",
    "account_age_days",
    "foreign_merchant",
    "prior_chargebacks",
    "customer_age",
    "is_fraud",
]

# Log-odds added by each merchant category: card-testing and resale fraud concentrate on goods
# that are easy to resell.
MERCHANT_RISK = {
    "grocery": -1.2,
    "gas": -0.4,
    "restaurant": -0.8,
    "retail": 0.0,
    "travel": 0.7,
    "online_services": 1.1,
    "electronics": 1.5,
    "jewelry": 1.8,
}

# The populations differ in everything a fraud model sees, so metrics never compare across them.
POPULATIONS = {
    "staging": {
        "rows": 2000,
        "fraud_rate": 0.10,
        "amount_mu": 3.6,
        "distance_mu": 2.0,
        "card_present_rate": 0.70,
        "foreign_rate": 0.06,
        "merchant_mix": {
            "grocery": 0.22,
            "gas": 0.12,
            "restaurant": 0.16,
            "retail": 0.20,
            "travel": 0.06,
            "online_services": 0.12,
            "electronics": 0.08,
            "jewelry": 0.04,
        },
    },
    "production": {
        "rows": 4000,
        "fraud_rate": 0.07,
        "amount_mu": 3.85,
        "distance_mu": 2.3,
        "card_present_rate": 0.60,
        "foreign_rate": 0.09,
        "merchant_mix": {
            "grocery": 0.18,
            "gas": 0.10,
            "restaurant": 0.14,
            "retail": 0.20,
            "travel": 0.09,
            "online_services": 0.16,
            "electronics": 0.09,
            "jewelry": 0.04,
        },
    },
}

ENVIRONMENTS = tuple(POPULATIONS)

# Irreducible noise on the true log-odds: no model can rank perfectly, as with real fraud labels.
LABEL_NOISE = 0.5


def _poisson(rng, lam):
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _sigmoid(z):
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _risk(row):
    """True log-odds of fraud before the intercept: what a good model has to learn."""
    hour_angle = 2 * math.pi * (row["hour"] - 3) / 24
    return (
        1.3 * (math.log(row["amount"]) - 3.7)
        + 1.1 * (math.log1p(row["distance_from_home"]) - 2.2)
        + 0.65 * (row["velocity_24h"] - 2)
        - 0.8 * (math.log1p(row["account_age_days"]) - 6.0)
        + MERCHANT_RISK[row["merchant_category"]]
        - 1.3 * row["card_present"]
        + 0.8 * math.cos(hour_angle)
        + 1.1 * row["foreign_merchant"]
        + 0.8 * row["prior_chargebacks"]
        - 0.015 * (row["customer_age"] - 45)
    )


def _intercept(risks, fraud_rate):
    """Intercept that makes the expected fraud rate exactly the population's (bisection)."""
    lo, hi = -20.0, 20.0
    for _ in range(60):
        mid = (lo + hi) / 2
        rate = sum(_sigmoid(r + mid) for r in risks) / len(risks)
        if rate < fraud_rate:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def generate(environment, snapshot=1):
    """Rows (dicts keyed by COLUMNS) of one environment's data at one snapshot."""
    if environment not in POPULATIONS:
        expected = ", ".join(ENVIRONMENTS)
        raise ValueError(f"unknown environment {environment!r} (expected one of {expected})")
    if snapshot < 1:
        raise ValueError(f"snapshot must be a positive integer (got {snapshot})")
    pop = POPULATIONS[environment]
    drift = snapshot - 1
    # A string seed is hashed with SHA-512 by random.seed, so it does not depend on PYTHONHASHSEED.
    rng = random.Random(f"fraud-detection/{environment}/{snapshot}")
    categories = list(pop["merchant_mix"])
    weights = list(pop["merchant_mix"].values())

    rows = []
    for i in range(pop["rows"]):
        # Night-time activity is rarer; transactions follow a daytime-heavy hour profile.
        hour = int(rng.triangular(0, 24, 15)) % 24 if rng.random() < 0.85 else rng.randrange(24)
        row = {
            "transaction_id": f"{environment[0]}{snapshot:02d}-{i:06d}",
            "amount": round(max(0.5, rng.lognormvariate(pop["amount_mu"] + 0.04 * drift, 1.0)), 2),
            "hour": hour,
            "merchant_category": rng.choices(categories, weights)[0],
            "distance_from_home": round(rng.lognormvariate(pop["distance_mu"], 1.2), 1),
            "card_present": 1 if rng.random() < pop["card_present_rate"] - 0.01 * drift else 0,
            "velocity_24h": _poisson(rng, 2.0 + 0.1 * drift),
            "account_age_days": 1 + int(rng.expovariate(1 / 900)),
            "foreign_merchant": 1 if rng.random() < pop["foreign_rate"] else 0,
            "prior_chargebacks": _poisson(rng, 0.2),
            "customer_age": rng.randint(18, 85),
        }
        rows.append(row)

    risks = [_risk(r) + rng.gauss(0, LABEL_NOISE) for r in rows]
    b = _intercept(risks, pop["fraud_rate"] + 0.004 * drift)
    for row, risk in zip(rows, risks):
        row["is_fraud"] = 1 if rng.random() < _sigmoid(risk + b) else 0
    return rows


def to_csv(rows):
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    # Fixed decimals: the file's bytes must not depend on float repr details.
    decimals = {"amount": 2, "distance_from_home": 1}
    for row in rows:
        writer.writerow(
            [f"{row[c]:.{decimals[c]}f}" if c in decimals else row[c] for c in COLUMNS]
        )
    return buf.getvalue()


def write(environment, snapshot, out_dir):
    """Write out_dir/transactions.csv atomically: concurrent trainings may share a data cache."""
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "transactions.csv")
    tmp = os.path.join(out_dir, f".transactions.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(to_csv(generate(environment, snapshot)))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description="Generate one environment's transactions.csv.")
    parser.add_argument("--environment", required=True, choices=ENVIRONMENTS)
    parser.add_argument("--snapshot", type=int, default=1, help="data extract number (default 1)")
    parser.add_argument("--out", required=True, help="directory to write transactions.csv into")
    args = parser.parse_args(argv)
    if args.snapshot < 1:
        parser.error(f"--snapshot must be a positive integer (got {args.snapshot})")
    path = write(args.environment, args.snapshot, args.out)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
