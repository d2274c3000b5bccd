"""The competition's ten classes, as the Kaggle folders name them: what the sample data draws, what
prepare checks a dataset's labels against, and what an untrained placeholder model answers."""

PADDY_LABELS = (
    "bacterial_leaf_blight",
    "bacterial_leaf_streak",
    "bacterial_panicle_blight",
    "blast",
    "brown_spot",
    "dead_heart",
    "downy_mildew",
    "hispa",
    "normal",
    "tungro",
)
