"""Featurization shared by training and serving.

Training fits a Featurizer on the training split only (category vocabularies, means and standard
deviations) and saves its state in model.json; serving rebuilds it from that state, so a model is
always scored with exactly the transformation it was trained with.
"""

import math

# How each raw column becomes model inputs. Heavy-tailed counts and amounts are log-scaled so a
# linear model sees their effect on fraud odds as roughly linear; the hour is put on a circle so
# 23:00 and 01:00 are neighbours.
NUMERIC = {
    "amount": lambda v: math.log1p(float(v)),
    "distance_from_home": lambda v: math.log1p(float(v)),
    "velocity_24h": float,
    "account_age_days": lambda v: math.log1p(float(v)),
    "card_present": float,
    "foreign_merchant": float,
    "prior_chargebacks": float,
    "customer_age": float,
}
CYCLICAL = {"hour": 24}
CATEGORICAL = ("merchant_category",)

FEATURES = tuple(sorted([*NUMERIC, *CYCLICAL, *CATEGORICAL]))


class FeatureError(ValueError):
    pass


def _numeric_values(feature, raw):
    if feature in CYCLICAL:
        angle = 2 * math.pi * float(raw) / CYCLICAL[feature]
        return [math.sin(angle), math.cos(angle)]
    return [NUMERIC[feature](raw)]


def _numeric_names(feature):
    if feature in CYCLICAL:
        return [f"{feature}_sin", f"{feature}_cos"]
    return [feature]


class Featurizer:
    """Standardizes numeric inputs and one-hot encodes categories, with statistics from training."""

    def __init__(self, state):
        self.features = list(state["features"])
        self.means = list(state["means"])
        self.stds = list(state["stds"])
        self.categories = {k: list(v) for k, v in state["categories"].items()}
        self._index = {k: {c: i for i, c in enumerate(v)} for k, v in self.categories.items()}
        self.numeric = [f for f in self.features if f not in CATEGORICAL]
        self.categorical = [f for f in self.features if f in CATEGORICAL]
        self.names = [n for f in self.numeric for n in _numeric_names(f)] + [
            f"{f}={c}" for f in self.categorical for c in self.categories[f]
        ]

    @classmethod
    def fit(cls, rows, features):
        unknown = [f for f in features if f not in FEATURES]
        if unknown:
            raise FeatureError(
                f"unknown feature(s) {', '.join(unknown)} (known: {', '.join(FEATURES)})"
            )
        numeric = [f for f in features if f not in CATEGORICAL]
        columns = list(zip(*([v for f in numeric for v in _numeric_values(f, r[f])] for r in rows)))
        means, stds = [], []
        for col in columns:
            mean = math.fsum(col) / len(col)
            var = math.fsum((x - mean) ** 2 for x in col) / len(col)
            means.append(mean)
            # A constant column carries no information; scale 1 keeps it finite (and zero).
            stds.append(math.sqrt(var) or 1.0)
        categories = {f: sorted({r[f] for r in rows}) for f in features if f in CATEGORICAL}
        return cls(
            {"features": list(features), "means": means, "stds": stds, "categories": categories}
        )

    def state(self):
        return {
            "features": self.features,
            "names": self.names,
            "means": self.means,
            "stds": self.stds,
            "categories": self.categories,
        }

    def transform_row(self, row):
        values = [v for f in self.numeric for v in _numeric_values(f, row[f])]
        out = [(v - m) / s for v, m, s in zip(values, self.means, self.stds)]
        for f in self.categorical:
            onehot = [0.0] * len(self.categories[f])
            # A category never seen in training maps to all zeros: the model's baseline.
            i = self._index[f].get(row[f])
            if i is not None:
                onehot[i] = 1.0
            out.extend(onehot)
        return out

    def transform(self, rows):
        try:
            return [self.transform_row(r) for r in rows]
        except KeyError as e:
            raise FeatureError(f"input is missing column {e.args[0]!r}") from None
        except ValueError as e:
            raise FeatureError(f"input has a malformed value: {e}") from None
