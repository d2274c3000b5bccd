"""The phone contract: a photo is decoded (images), turned into the model's input (preprocess) and
described in the model card (contract) exactly as the app does it. The pipeline's evaluate and predict,
the device check, the served model and the tests all import this package, so the accuracy the gate
judges is the phone's accuracy.

Self-contained (numpy and pillow; imports of each other are relative): the served MLflow model ships
these files as they are, as its own package, so it runs without paddy_edge installed."""
