"""The gated model away from the phone: an MLflow pyfunc Model (pyfunc.py) that `make serve` serves over
HTTP, a demo page for people, and a load test of the served model."""
