"""The one exception type whose message is meant for the person running the pipeline."""


class UserError(Exception):
    """Bad input or environment: the CLI prints the message (which says what to do) and exits 2."""
