"""DSN-2009 fixed-text replay in numpy and scikit-learn, for comparison with `kinetype`.

Protocol (Killourhy & Maxion, DSN 2009), as in src/evaluation/fixed_text.rs: per subject, fit
on sessions 1-4 (200 vectors), score sessions 5-8 (200 genuine attempts) and reps 1-5 of
session 1 of every other subject (250 impostor attempts). The EER is interpolated between the
two ROC points that bracket miss rate = false-alarm rate, equal scores collapsed into one
point, as src/evaluation/metrics.rs does. Scores are anomaly scores: higher = more anomalous.

Usage: python fixed_text.py CSV_PATH OUT_JSON
"""

import json
import sys
import time

import numpy as np
import pandas as pd
from scipy.spatial.distance import cdist
from scipy.stats import rankdata
from sklearn.cluster import KMeans
from sklearn.svm import OneClassSVM

# Smallest per-feature spread (seconds) used by the scaled Manhattan detector.
MIN_SPREAD_SECONDS = 1e-6
IMPOSTOR_REPS = 5
SEED = 0x6B696E65


def whitening(train):
    """Return the mean and W with W.T @ W the pseudo-inverse of the sample covariance.

    Eigenvalues at or below sqrt(machine epsilon) times the largest are dropped, the cut-off
    that src/linalg.rs uses.
    """
    mean = train.mean(axis=0)
    values, vectors = np.linalg.eigh(np.cov(train, rowvar=False))
    kept = values > np.sqrt(np.finfo(float).eps) * np.abs(values).max()
    return mean, (vectors[:, kept] / np.sqrt(values[kept])).T


def manhattan_scaled(train, tests):
    mean = train.mean(axis=0)
    spread = np.maximum(np.abs(train - mean).mean(axis=0), MIN_SPREAD_SECONDS)
    return (np.abs(tests - mean) / spread).sum(axis=1)


def mahalanobis(train, tests):
    mean, w = whitening(train)
    z = (tests - mean) @ w.T
    return np.einsum("ij,ij->i", z, z)


def nearest_neighbor_mahalanobis(train, tests):
    mean, w = whitening(train)
    points = (train - mean) @ w.T
    z = (tests - mean) @ w.T
    return cdist(z, points, "sqeuclidean").min(axis=1)


def outlier_count(train, tests, z=1.96):
    mean = train.mean(axis=0)
    limit = z * train.std(axis=0, ddof=1)
    return (np.abs(tests - mean) > limit).sum(axis=1).astype(float)


def sigest(scaled, rng):
    """Estimate the RBF width as kernlab::sigest does (see src/detectors/svm.rs)."""
    n = len(scaled)
    pairs = max(n // 2, 1)
    a = scaled[rng.integers(0, n, pairs)]
    b = scaled[rng.integers(0, n, pairs)]
    distances = ((a - b) ** 2).sum(axis=1)
    distances = np.sort(distances[distances > 0])
    count = len(distances)

    def order_statistic(p):
        rank = int(np.ceil(p * count))
        return distances[min(max(rank, 1), count) - 1]

    return (1 / order_statistic(0.9) + 1 / order_statistic(0.1)) / 2


def one_class_svm(train, tests, rng):
    mean = train.mean(axis=0)
    sd = train.std(axis=0, ddof=1)
    inverse_sd = np.divide(1.0, sd, out=np.zeros_like(sd), where=sd > 0)
    scaled = (train - mean) * inverse_sd
    model = OneClassSVM(kernel="rbf", nu=0.05, gamma=sigest(scaled, rng)).fit(scaled)
    return -model.decision_function((tests - mean) * inverse_sd)


def k_means(train, tests, rng):
    # n_init=10, k-means++ starts and at most 300 iterations, as kinetype's k-means.
    model = KMeans(n_clusters=3, n_init=10, max_iter=300, random_state=rng.integers(2**31))
    return model.fit(train).transform(tests).min(axis=1)


DETECTORS = {
    "manhattan-scaled": manhattan_scaled,
    "mahalanobis": mahalanobis,
    "nearest-neighbor-mahalanobis": nearest_neighbor_mahalanobis,
    "outlier-count": outlier_count,
    "one-class-svm": one_class_svm,
    "k-means": k_means,
}
SEEDED = {"one-class-svm", "k-means"}


def error_rates(genuine, impostor):
    """Return (EER, AUC) exactly as src/evaluation/metrics.rs computes them."""
    scores = np.concatenate([genuine, impostor])
    is_impostor = np.concatenate([np.zeros(len(genuine), bool), np.ones(len(impostor), bool)])
    order = np.argsort(-scores, kind="stable")
    scores, is_impostor = scores[order], is_impostor[order]
    # One ROC point after the last attempt of each run of equal scores.
    ends = np.flatnonzero(np.append(scores[1:] != scores[:-1], True))
    rejected_impostors = np.cumsum(is_impostor)[ends]
    rejected_genuine = np.cumsum(~is_impostor)[ends]
    miss = np.concatenate([[1.0], (len(impostor) - rejected_impostors) / len(impostor)])
    false_alarm = np.concatenate([[0.0], rejected_genuine / len(genuine)])
    below = np.flatnonzero(miss - false_alarm < 0)
    if len(below) == 0 or below[0] == 0:
        eer = 0.0
    else:
        j = below[0]
        x1, x2, y1, y2 = miss[j - 1], false_alarm[j - 1], miss[j], false_alarm[j]
        eer = x1 + (x1 - x2) / (y2 - y1 - x2 + x1) * (y1 - x1)
    ranks = rankdata(np.concatenate([genuine, impostor]))
    m, n = len(impostor), len(genuine)
    auc = (ranks[n:].sum() - m * (m + 1) / 2) / (m * n)
    return eer, auc


def main(csv_path, out_path):
    stages = {}
    started = time.perf_counter()
    data = pd.read_csv(csv_path)
    features = data.columns[3:]
    subjects = data["subject"].unique()
    rows = {s: data.loc[data["subject"] == s] for s in subjects}
    train = {s: r.loc[r["sessionIndex"] <= 4, features].to_numpy() for s, r in rows.items()}
    genuine = {s: r.loc[r["sessionIndex"] >= 5, features].to_numpy() for s, r in rows.items()}
    first = {s: r.loc[r["sessionIndex"] == 1, features].to_numpy()[:IMPOSTOR_REPS] for s, r in rows.items()}
    # Every detector scores the same test rows, so they are stacked once per subject, as the
    # kinetype replay does before its detector stages.
    tests = {
        s: np.concatenate([genuine[s]] + [first[o] for o in subjects if o != s]) for s in subjects
    }
    stages["load"] = time.perf_counter() - started

    results = []
    for name, detector in DETECTORS.items():
        detector_started = time.perf_counter()
        rng = np.random.default_rng(SEED)
        eers, aucs = [], []
        for s in subjects:
            if name in SEEDED:
                scores = detector(train[s], tests[s], rng)
            else:
                scores = detector(train[s], tests[s])
            eer, auc = error_rates(scores[: len(genuine[s])], scores[len(genuine[s]) :])
            eers.append(eer)
            aucs.append(auc)
        seconds = time.perf_counter() - detector_started
        stages[name] = seconds
        results.append(
            {
                "name": name,
                "eer_mean": float(np.mean(eers)),
                "eer_sd": float(np.std(eers, ddof=1)),
                "auc_mean": float(np.mean(aucs)),
                "seconds": seconds,
            }
        )
    stages["total_in_process"] = time.perf_counter() - started
    with open(out_path, "w") as out:
        json.dump({"subjects": len(subjects), "stages": stages, "detectors": results}, out, indent=1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
