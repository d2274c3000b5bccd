"""paddy-edge: a Kaggle image dataset to a gated, phone-ready classifier.

The rooms, in the order of the pipeline: data/ (the Kaggle layout, the sample, the labels), stages/
(one module per DVC stage), training/ (more than one process), formats/ (the registry and one module
per format family), phone/ (the phone contract: decode, preprocess, the card's input), tracking/ (MLflow
runs and the model registry), serving/ (the MLflow Model, demo, load test), app/ (the Flutter app's
assets and checks), ci/ (what the workflows run), runtime/ (how outputs land, interrupts, orphans).

At this level, what every room shares: cli (the typed CLI), config (params.yaml, typed), paths (where
everything is), errors (the user-facing error), card (the model card), model (the network). And what one
command serves, each named in its docstring: predict (`paddy-edge predict`), smoke (`make smoke`),
rotation and format_table (bench's timing and table; the PR comment imports the table), pte (the .pte
file check export, evaluate and the device check share), dvc_remote (`make remote-s3`)."""

__version__ = "0.1.0"
