"""The errors a user of the ingest command can meet, each with a message that says what to do."""


class SourcedError(Exception):
    """Base of the product's user-facing errors. The message is shown as is."""


class UsageError(SourcedError):
    """The command was asked for something it cannot do (bad path, bad name, bad setting)."""


class IndexNotFoundError(SourcedError):
    """No index of that name exists yet."""


class IndexMismatchError(SourcedError):
    """The index was built with another embedding model or chunking than the one configured."""


class IndexLockedError(SourcedError):
    """Another process is writing the index."""


class IndexCorruptError(SourcedError):
    """The index on disk cannot be read."""


class EmbeddingServerError(SourcedError):
    """The embedding server (SOURCED_EMBEDDING_BACKEND) failed, timed out or is unreachable."""


# Per-file outcomes raised by loaders; the ingest run reports them and goes on.


class SkipFile(Exception):
    """The file is deliberately not indexed (empty, encrypted, no text, too large)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class LoadError(Exception):
    """The file could not be parsed (corrupt, invalid, unreadable)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
