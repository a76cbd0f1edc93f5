"""Train a classifier on a synthetic dataset and write what the CI report needs.

metrics.json   accuracy, f1, roc_auc and log loss on the test split
predictions.csv  actual label, predicted label and score per test sample (confusion matrix, ROC)
"""

import json

import yaml
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score
from sklearn.model_selection import train_test_split

params = yaml.safe_load(open("params.yaml"))
X, y = make_classification(n_samples=2000, n_features=20, n_informative=6, random_state=params["seed"])
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=params["seed"])
model = LogisticRegression(C=params["C"], max_iter=1000).fit(X_train, y_train)
scores = model.predict_proba(X_test)[:, 1]
predicted = model.predict(X_test)

metrics = {"accuracy": accuracy_score(y_test, predicted), "f1": f1_score(y_test, predicted),
           "roc_auc": roc_auc_score(y_test, scores), "loss": log_loss(y_test, scores)}
with open("metrics.json", "w") as file:
    json.dump({name: round(value, 4) for name, value in metrics.items()}, file, indent=2)
with open("predictions.csv", "w") as file:
    file.write("actual,predicted,score\n")
    file.writelines(f"{a},{p},{s:.5f}\n" for a, p, s in zip(y_test, predicted, scores))
