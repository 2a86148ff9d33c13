"""Exception types of the package. The command line turns them into one-line errors."""


class CompsepError(Exception):
    """Base class of every error compsep-hpc raises on purpose (bad input, bad state)."""


class ConfigError(CompsepError):
    """A run configuration, instrument, region or patch count that cannot be used."""


class RunFolderError(CompsepError):
    """A results folder that does not belong to the run being started or reduced."""
