"""paddy-edge: a Kaggle image dataset to a gated, phone-ready classifier."""

__version__ = "0.1.0"
