"""Exception types of the package. The command line turns them into one-line errors."""


class CompsepError(Exception):
    """Base class of every error compsep-hpc raises on purpose (bad input, bad state)."""


class ConfigError(CompsepError):
    """A run configuration, instrument, region or patch count that cannot be used."""


class RunFolderError(CompsepError):
    """A results folder that does not belong to the run being started or reduced."""


class BroadcastError(CompsepError):
    """An error found on MPI rank 0 and raised on every rank; only rank 0 reports it."""

    def __init__(self, message: str, rank: int):
        super().__init__(message)
        self.rank = rank
