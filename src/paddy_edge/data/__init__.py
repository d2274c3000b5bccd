"""The photos before training: where they come from (kaggle_source: the competition's zip; sample: the
generated smoke set in the same layout; archive: a zip checked before it is unpacked) and what makes them
usable (layout: train.csv against the folders, skip reasons, labels)."""
