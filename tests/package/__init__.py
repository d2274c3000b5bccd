"""The package as a whole, not one part of the product: what `make setup` installs and pins, and that
the modules the workflows run import without the pipeline's venv and without cycles."""
