"""One DVC stage: train with params.yaml's train section, write metrics.json and the training curve."""

import json
import os

import yaml
from sklearn.datasets import make_classification
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split

params = yaml.safe_load(open("params.yaml"))["train"]
X, y = make_classification(n_samples=3000, n_features=20, n_informative=8, random_state=params["seed"])
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=params["seed"])
model = SGDClassifier(loss="log_loss", alpha=params["alpha"], random_state=params["seed"])
os.makedirs("plots", exist_ok=True)
with open("plots/training.csv", "w") as curve:
    curve.write("step,loss,accuracy\n")
    for epoch in range(params["epochs"]):
        model.partial_fit(X_train, y_train, classes=[0, 1])
        loss = log_loss(y_test, model.predict_proba(X_test))
        accuracy = accuracy_score(y_test, model.predict(X_test))
        curve.write(f"{epoch},{loss:.5f},{accuracy:.5f}\n")
with open("metrics.json", "w") as file:
    json.dump({"accuracy": round(accuracy, 4), "loss": round(loss, 4)}, file, indent=2)
