"""MLflow: the runs every stage logs into (mlflow_runs), the store's URI without secrets and MLflow's
failures as one line (store_uri), and the model registry that follows the gate's verdict (registry)."""
