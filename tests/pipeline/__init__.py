"""The DVC pipeline: params.yaml validation, dvc.yaml against the code (deps, outputs, reports), outputs
that land only on success, the smoke workspace, a real `dvc repro` and its caches (run-cache, CI's second
run, a shared S3 remote), and parallel experiments."""
