"""Retrain on the latest data and write metrics.json (the CI then updates MODEL_CARD.md through a pull request)."""

import json

import yaml
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

params = yaml.safe_load(open("params.yaml"))
X, y = make_classification(n_samples=1500, n_features=12, random_state=params["seed"])
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=params["seed"])
model = RandomForestClassifier(n_estimators=params["trees"], random_state=params["seed"]).fit(X_train, y_train)
predicted = model.predict(X_test)
with open("metrics.json", "w") as file:
    json.dump({"accuracy": round(accuracy_score(y_test, predicted), 4),
               "f1": round(f1_score(y_test, predicted), 4)}, file, indent=2)
