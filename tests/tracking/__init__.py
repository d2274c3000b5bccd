"""MLflow tracking and the model registry: what one run holds, small pieces of the MLflow handling
(no password printed, params flattened), one registered version per run and export, and the pipeline
logging to a real `make mlflow-server`."""
