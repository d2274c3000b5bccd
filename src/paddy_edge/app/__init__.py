"""What serves the phone app and the person building it: the gated model's files into the app
(app_assets), the built APK's checks (apk_check, page_alignment), the launcher icons, and the check that
the model runs in the app's runtime (device_check). Standard library only (device_check excepted: it runs
in torch 2.1.0), and from the rest of the package only `paths`, `errors`, `card`, `pte` and
`preprocess`, so the workflows' jobs without the pipeline's venv run them."""
