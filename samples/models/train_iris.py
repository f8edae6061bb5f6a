#!/usr/bin/env python3
"""Trains the sample model servers' iris classifiers and writes their parameters as JSON.

A multinomial logistic regression on standardised features, fitted by full-batch gradient
descent with L2 regularisation; pure Python (no numpy), deterministic. Two versions are written
so that experiments have a baseline and a candidate that really differ:
  iris-v1.json  (baseline: petal features only, 200 epochs)
  iris-v2.json  (candidate: all four features, 2000 epochs)

Usage: samples/models/train_iris.py  (run from anywhere; rewrites the JSON files beside it)
Data: iris.csv, R. A. Fisher (1936), UCI Machine Learning Repository (CC BY 4.0).
"""
import csv
import json
import math
import os

HERE = os.path.dirname(os.path.abspath(__file__))
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def load():
    with open(os.path.join(HERE, "iris.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    classes = sorted({r["species"] for r in rows})
    x = [[float(r[k]) for k in FEATURES] for r in rows]
    y = [classes.index(r["species"]) for r in rows]
    return x, y, classes


def softmax(z):
    m = max(z)
    e = [math.exp(v - m) for v in z]
    s = sum(e)
    return [v / s for v in e]


def train(x, y, k, used, epochs, rate=0.5, l2=1e-3):
    n, d = len(x), len(x[0])
    mean = [sum(r[j] for r in x) / n for j in range(d)]
    std = [math.sqrt(sum((r[j] - mean[j]) ** 2 for r in x) / n) for j in range(d)]
    xs = [[(r[j] - mean[j]) / std[j] if used[j] else 0.0 for j in range(d)] for r in x]
    w = [[0.0] * d for _ in range(k)]
    b = [0.0] * k
    for _ in range(epochs):
        gw = [[0.0] * d for _ in range(k)]
        gb = [0.0] * k
        for r, t in zip(xs, y):
            p = softmax([sum(w[c][j] * r[j] for j in range(d)) + b[c] for c in range(k)])
            for c in range(k):
                g = p[c] - (1.0 if c == t else 0.0)
                gb[c] += g
                for j in range(d):
                    gw[c][j] += g * r[j]
        for c in range(k):
            b[c] -= rate * gb[c] / n
            for j in range(d):
                w[c][j] -= rate * (gw[c][j] / n + l2 * w[c][j])
    correct = 0
    for r, t in zip(xs, y):
        z = [sum(w[c][j] * r[j] for j in range(d)) + b[c] for c in range(k)]
        correct += int(max(range(k), key=lambda c: z[c]) == t)
    return mean, std, w, b, correct / n


def main():
    x, y, classes = load()
    specs = [("iris-v1", [False, False, True, True], 200), ("iris-v2", [True] * 4, 2000)]
    for name, used, epochs in specs:
        mean, std, w, b, acc = train(x, y, len(classes), used, epochs)
        model = {
            "name": name,
            "kind": "multinomial-logistic-regression",
            "features": FEATURES,
            "classes": [c.replace("Iris-", "") for c in classes],
            "mean": [round(v, 6) for v in mean],
            "scale": [round(v, 6) for v in std],
            "weights": [[round(v, 6) for v in row] for row in w],
            "bias": [round(v, 6) for v in b],
            "training_accuracy": round(acc, 4),
        }
        with open(os.path.join(HERE, name + ".json"), "w") as f:
            json.dump(model, f, indent=2)
            f.write("\n")
        print(f"{name}: training accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
