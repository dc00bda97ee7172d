"""Typed errors raised by qa, so callers can tell a bad question from a bad file or index."""


class QAError(Exception):
    """Base class for every error qa raises on purpose."""


class QuestionError(QAError, ValueError):
    """The question cannot be asked: empty, blank, only control characters, or too long."""


class DocumentError(QAError):
    """A file could not be read as a document (binary, broken, encrypted, image-only...)."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class CorruptIndexError(QAError):
    """The persisted index is missing, corrupt or was built differently; it will be rebuilt."""


class IndexFolderError(CorruptIndexError):
    """The index folder holds things qa did not write there: qa refuses to use it."""


class ModelError(QAError):
    """The embedding model could not be loaded."""


class StoreError(QAError):
    """The store (e.g. a Milvus server) cannot be reached or refused a request."""


class ClusterError(QAError):
    """Ray could not be started or reached, or a build on it failed (qa.index.on_ray)."""


class SettingsError(QAError, ValueError):
    """A setting is out of its range or names something that does not exist."""


class UsageError(QAError, ValueError):
    """An API was called with arguments that do not fit together (``k`` < 1, two lists of
    different lengths)."""


class FolderError(QAError, FileNotFoundError):
    """The corpus folder does not exist or is not a folder."""


class DocumentNotFound(QAError, KeyError):
    """No document of that id is in the index."""

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return str(self.args[0]) if self.args else ""


class ReaderModelError(QAError, FileNotFoundError):
    """The reader's model file is missing, damaged or not a model qa loads."""
