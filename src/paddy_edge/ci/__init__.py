"""What the workflows run: the pull-request report, the release, the app's model files and APK checks,
the on-device runtime check. Standard library only (device_check excepted: it runs in torch 2.1.0), and
from the rest of the package only `paths` and `errors`, so a job without the pipeline's venv runs them."""
