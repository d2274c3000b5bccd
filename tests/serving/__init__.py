"""Serving the champion: the gated model as an MLflow Model (pyfunc), `make serve`, `make demo` and
`make load-test` as real processes, and the champion the real pipeline registered."""
