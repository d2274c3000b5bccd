"""What tests import, that is not a test or a fixture (fixtures stay in the conftest.py files, which
import from here):

- `pipeline`: the smoke pipeline the `pipeline` fixture builds (`Pipeline`, `smoke_pipeline`), the
  test overlay on params.yaml (`TEST_OVERLAY`, `params_with`) and the secret it must never print;
- `cli`: `cli()` runs `python -m paddy_edge ARGS` and returns its CompletedProcess; `start_cli()` starts
  it in the background, for a test that signals, kills or talks to it while it runs;
- `params`: `write_params` (params.yaml in a folder, from the repository's and an overlay) and
  `set_params` (change sections of a workspace's params.yaml in place);
- `servers`: real servers on 127.0.0.1 (`make mlflow-server`, `make serve`), a free port, and waiting
  until one answers;
- `signals`: how a child that a test will Ctrl-C (or that must ignore Ctrl-C) is started;
- `tracking`: running MLflow work in a thread of its own.

`ROOT` is the repository the tests run from."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
