"""What the product survives, across all of its parts: real faults (Ctrl-C and kill -9 at any moment,
a full disk, a dead MLflow server, a busy machine, orphaned stages, bad photos and zip bombs) against the
real stages and CLI.

This folder keeps its own axis, on purpose: its tests are the answer to one question ("what happens when
things go wrong?"), they share their own fault tools (conftest.py: temps_under, a real small tmpfs,
busy cores) and most are slow; kept together, `pytest tests/reliability` checks that promise in one
run, and each other folder stays about how its part works."""
