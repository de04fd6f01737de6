"""A multi-layer perceptron on scikit-learn's handwritten digits (1,797 images of 8x8
pixels, 10 classes; shipped with scikit-learn, no download): the network is a formula,
its backpropagation equations are printed as symopt derived them, and Adam trains it
with a validation split, early stopping and a progress bar.

Checks (exit code 1 when one fails): the derived gradient equals a hand-written NumPy
backpropagation at the initial weights, and the held-out accuracy is at least 95%.
Run with SYMOPT_EXAMPLE_SMALL=1 for a quick run (fewer epochs).  Needs scikit-learn
(``pip install symopt[test]`` or ``pip install scikit-learn``).
"""
import os
import sys

import numpy as np

from symopt import nn

small = os.environ.get("SYMOPT_EXAMPLE_SMALL") == "1"
try:
    from sklearn.datasets import load_digits
except ImportError:
    print("digits_mlp.py needs scikit-learn (pip install scikit-learn); skipped")
    sys.exit(0)

X, y = load_digits(return_X_y=True)
X = X / 16.0                                            # pixels in [0, 1]
order = np.random.default_rng(0).permutation(len(X))
train, test = order[:1400], order[1400:]

net = nn.mlp([64, 32, 10], activation="tanh", loss="softmax")
print("loss =", net.loss)
print()
print(net.gradient)                                     # backpropagation, layer by layer
print()

# the derived gradient against backpropagation written by hand
w0 = net.init(seed=0)
Xb, yb = X[train[:100]], y[train[:100]]
f, g = net.value_and_grad(w0, Xb, yb)
H1 = np.tanh(Xb @ w0["W1"] + w0["b1"])
Z2 = H1 @ w0["W2"] + w0["b2"]
P = np.exp(Z2 - Z2.max(1, keepdims=True))
P /= P.sum(1, keepdims=True)
d2 = (P - np.eye(10)[yb]) / len(yb)
d1 = (d2 @ w0["W2"].T) * (1 - H1 ** 2)
hand = {"W1": Xb.T @ d1, "b1": d1.sum(0), "W2": H1.T @ d2, "b2": d2.sum(0)}
worst = max(float(np.max(np.abs(g[k] - hand[k])) / np.max(np.abs(hand[k]))) for k in hand)
print(f"gradient vs hand-written backprop: largest relative difference {worst:.1e}")

res = net.fit(X[train], y[train], method="adam", lr=0.01, epochs=15 if small else 60, batch_size=64,
              validation_split=0.1, patience=8, seed=0, progress=True)
accuracy = net.accuracy(res.weights, X[test], y[test])
print(res.message)
print(f"epochs {res.epochs}, best validation epoch {res.best_epoch}, "
      f"validation accuracy {res.history['val_accuracy'][-1]:.3f}")
print(f"held-out accuracy on {len(test)} images: {accuracy:.3f}")

if worst > 1e-10 or accuracy < 0.95:
    sys.exit(1)
