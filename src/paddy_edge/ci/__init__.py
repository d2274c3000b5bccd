"""What the workflows run: the profile, the pull-request report, main's gated record, the release, the
Flutter lock check, and `make ci-local` with its GitHub stand-in. Standard library only, and from the rest
of the package only `paths`, `errors`, `card` and the app's checks (paddy_edge.app), so a job without the
pipeline's venv runs them."""
