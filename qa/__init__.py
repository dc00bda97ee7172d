"""qa: answers questions from a folder of documents with verbatim, cited extracts."""

from .answer import Answer, Extract
from .assistant import Assistant, Settings
from .documents import Document
from .errors import DocumentError, ModelError, QAError, QuestionError

__all__ = [
    "Answer",
    "Assistant",
    "Document",
    "DocumentError",
    "Extract",
    "ModelError",
    "QAError",
    "QuestionError",
    "Settings",
]
__version__ = "0.1.0"
