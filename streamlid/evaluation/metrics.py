"""Classification metrics on numpy arrays (no model, no I/O): accuracy, confusion, F1, calibration,
bootstrap intervals over clips. Used by `streamlid evaluate` and by training's reports."""

from __future__ import annotations

import numpy as np


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred))) if len(y_true) else float("nan")


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_labels: int) -> np.ndarray:
    """Counts, rows = true label, columns = predicted label (integer labels 0..n_labels-1)."""
    m = np.zeros((n_labels, n_labels), dtype=np.int64)
    np.add.at(m, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return m


def per_label_f1(y_true: np.ndarray, y_pred: np.ndarray, labels) -> dict:
    """label -> (precision, recall, f1); an undefined precision or recall counts as 0."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    out = {}
    for label in labels:
        tp = int(np.sum((y_true == label) & (y_pred == label)))
        n_pred, n_true = int(np.sum(y_pred == label)), int(np.sum(y_true == label))
        p = tp / n_pred if n_pred else 0.0
        r = tp / n_true if n_true else 0.0
        out[label] = (p, r, 2 * p * r / (p + r) if p + r else 0.0)
    return out


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean F1 over the labels that occur in y_true (predictions of absent labels cost recall only)."""
    labels = np.unique(y_true)
    if not len(labels):
        return float("nan")
    return float(np.mean([f1 for _, _, f1 in per_label_f1(y_true, y_pred, labels).values()]))


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """Sum over equal-width confidence bins of |bin accuracy - bin mean confidence| x bin share."""
    confidence, correct = np.asarray(confidence, dtype=np.float64), np.asarray(correct, dtype=np.float64)
    if not len(confidence):
        return float("nan")
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    ece = 0.0
    for b in np.unique(which):
        sel = which == b
        ece += sel.mean() * abs(correct[sel].mean() - confidence[sel].mean())
    return float(ece)


def bootstrap_ci(correct: np.ndarray, groups: np.ndarray, n: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of the accuracy, resampling whole groups (clips) with replacement."""
    _, inverse = np.unique(groups, return_inverse=True)
    hits = np.bincount(inverse, weights=np.asarray(correct, dtype=np.float64))
    sizes = np.bincount(inverse).astype(np.float64)
    sample = np.random.default_rng(seed).integers(0, len(sizes), size=(n, len(sizes)))
    acc = hits[sample].sum(axis=1) / sizes[sample].sum(axis=1)
    lo, hi = np.percentile(acc, [2.5, 97.5])
    return float(lo), float(hi)


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a rate k/n (sensible at small n and at rates near 0 or 1)."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, float(centre - half)), min(1.0, float(centre + half)))
