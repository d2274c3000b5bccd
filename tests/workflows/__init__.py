"""The GitHub workflows (CI and release): read as data and held to the pipeline's contract, the scripts
they call run for real, their outputs, release signing, the flutter job, and the whole path under act."""
