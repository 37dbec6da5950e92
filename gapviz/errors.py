"""The base of every error whose message is enough for the user (the CLI prints it as one line)."""


class GapvizError(ValueError):
    """Bad input or state a user can fix: a config, a file, a run id, a model name."""
