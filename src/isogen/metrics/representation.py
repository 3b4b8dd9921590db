"""How much the frozen codes know: linear-probe and k-NN accuracy on the test set."""
from __future__ import annotations

import numpy as np


def probe_accuracies(train_codes: np.ndarray, train_labels: np.ndarray, test_codes: np.ndarray,
                     test_labels: np.ndarray, k: int = 5) -> dict:
    from sklearn.linear_model import LogisticRegression  # here: scikit-learn takes a second to import
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(train_codes)
    probe = LogisticRegression(max_iter=1000).fit(scaler.transform(train_codes), train_labels)
    knn = KNeighborsClassifier(n_neighbors=k, metric="cosine").fit(train_codes, train_labels)
    return {
        "linear_probe_accuracy": float((probe.predict(scaler.transform(test_codes)) == test_labels).mean()),
        f"knn{k}_accuracy": float((knn.predict(test_codes) == test_labels).mean()),
        "probe_train_size": len(train_codes),
    }
