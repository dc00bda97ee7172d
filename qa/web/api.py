"""The REST API, served by the web chat's own server (``RestApi``): ask, list, show, upload
and remove documents, and health, under ``/api/``; typed with pydantic, described at
``/openapi.json`` and ``/docs``. Every error is ``{"error": "..."}`` in qa's words, with its
status (400 bad input, 401/403 keys, 404 unknown document, 409 a concurrent change, 413 too
large, 415 unsupported type, 429 too often, 503 index unavailable), never a traceback or a
server path. ``qa.web.access.Gate`` checks keys, rates, sizes and concurrent uploads
before a route runs.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import threading
from pathlib import Path, PurePosixPath

from fastapi import APIRouter, File, Request, Response, Security, UploadFile
from fastapi.exceptions import HTTPException, RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.middleware import Middleware

from qa.assistant import Assistant, SourceInfo
from qa.errors import (
    CorruptIndexError,
    DocumentError,
    DocumentNotFound,
    FolderError,
    ModelError,
    QAError,
    QuestionError,
    SettingsError,
    StoreError,
    UsageError,
)
from qa.index import generations
from qa.web.access import ApiKeys, Gate, Limits
from qa.web.callbacks import safe_filename, unsupported
from qa.web.render import utc
from qa.web.watch import FolderWatch

log = logging.getLogger(__name__)
ISO_8601 = "%Y-%m-%dT%H:%M:%SZ"  # the API's times, UTC
# Documents the scheme in OpenAPI only: the Gate checks keys before a route runs.
BEARER = HTTPBearer(auto_error=False, description="An API key: python -m qa.web.access add-key")


# ----- what goes in and out --------------------------------------------------------------


class ErrorBody(BaseModel):
    error: str = Field(description="What went wrong, in qa's words")


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(description="The question (at most 2,000 characters)")
    history: list[str] = Field(
        default_factory=list, max_length=100, description="Earlier questions, oldest first"
    )
    k: int = Field(3, ge=1, le=10, description="How many extracts at most")


class ExtractOut(BaseModel):
    doc_id: str
    title: str
    start: int = Field(description="Offset in the document's text: text[start:end] is quoted")
    end: int
    text: str
    score: float
    context_start: int
    context_end: int
    context: str
    page: int | None = None
    location: str | None = Field(None, description='"page 3", "slide 2", "§ Heading"')
    focus_start: int | None = Field(None, description="The answer phrase inside the extract")
    focus_end: int | None = None
    signals: dict[str, float] = Field(default_factory=dict)


class AnswerOut(BaseModel):
    """``Answer.to_dict()``: extracts best first, or an abstention and its reason."""

    model_config = ConfigDict(extra="allow")  # a field Answer gains is passed on, not dropped
    question: str
    query: str
    abstained: bool
    confidence: float
    extracts: list[ExtractOut]
    related: list[ExtractOut] = Field(default_factory=list, description="Not an answer")
    timings: dict[str, float] = Field(default_factory=dict)
    abstain_reason: str | None = None
    unknown: list[str] = Field(default_factory=list)
    missing_numbers: list[str] = Field(default_factory=list)  # MISSING_NUMBER's numbers
    missing_names: list[str] = Field(default_factory=list)  # MISSING_NAME's names
    why: str | None = Field(None, description="Why qa abstained, where no other field says it")
    answerability: float | None = None
    doubt: float | None = Field(None, description="The verifier's doubt that the answer fits")
    clarify: str | None = None
    notice: str | None = Field(None, description="How the answer was found, when it matters")
    message: str


class DocumentInfo(BaseModel):
    id: str = Field(description="The doc_id: the path inside the corpus folder")
    title: str
    file_name: str
    format: str = Field(description="The file's suffix: txt, md, html, pdf, docx...")
    size: int = Field(description="Bytes, when indexed")
    passages: int
    indexed: str | None = Field(
        None, description="When qa read and embedded it: ISO 8601, UTC (null: not recorded)"
    )


class Location(BaseModel):
    start: int
    label: str


class DocumentOut(DocumentInfo):
    kind: str
    sha256: str
    text: str = Field(description="What every offset (start, end) refers to")
    pages: list[int] = Field(description="Start offset of each page (PDF)")
    locations: list[Location]


class UploadOut(BaseModel):
    added: bool = Field(description="False when the same content was indexed already")
    document: DocumentInfo
    duplicate_of: str | None = None
    warning: str | None = None


class RemoveOut(BaseModel):
    removed: str
    trash: str = Field(description="Where the file went, inside the corpus folder")
    warning: str | None = None


class HealthOut(BaseModel):
    ok: bool
    generation: str | None = Field(description="The index generation answers come from")
    documents: int
    passages: int
    indexed_at: str | None = Field(description="UTC, ISO 8601")
    store: str


_WHY = {
    **{400: "Bad input", 401: "No or unknown API key", 403: "A read key writing"},
    **{404: "No such document", 409: "Changed meanwhile", 413: "Too large"},
    **{415: "Not a type qa reads", 429: "Too often: see Retry-After", 503: "Index unavailable"},
}


def _errors(*statuses: int, keyed: bool = True) -> dict:
    """A route's error answers for OpenAPI: ``statuses``, and those of every keyed route."""
    common = (400, 401, 429, 503) if keyed else (503,)
    return {s: {"model": ErrorBody, "description": _WHY[s]} for s in (*common, *statuses)}


# ----- errors ------------------------------------------------------------------------------


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


_BAD_INPUT = (QuestionError, DocumentError, UsageError, SettingsError)  # 400
_UNAVAILABLE = (StoreError, CorruptIndexError, ModelError, FolderError)  # 503, for now
_ABSOLUTE = re.compile(r"(?<![\w.:/])(?:/[^\s/'\"]+)+/([^\s/'\"]*)")


def public(message: str, roots: tuple[Path, ...] = ()) -> str:
    """``message`` without absolute paths: relative to the first of ``roots`` (the corpus and
    index folders) that holds them, else only their last part (``/srv/x/a.txt`` -> ``a.txt``)."""
    for root in sorted(map(str, roots), key=len, reverse=True):
        message = message.replace(f"{root}/", "").replace(root, Path(root).name)
    return _ABSOLUTE.sub(r"\1", message)


def error_response(error: Exception, where: str = "", roots: tuple = ()) -> JSONResponse:
    """The JSON error for ``error`` (paths made ``public`` against ``roots``); the detail of
    anything unexpected is logged here, never sent."""
    headers = None
    if isinstance(error, ApiError):
        status, message, headers = error.status, error.message, error.headers
    elif isinstance(error, RequestValidationError):
        status, message = 400, _validation_message(error)
    elif isinstance(error, HTTPException):
        status, message = error.status_code, str(error.detail)
    elif isinstance(error, QAError):
        status = 404 if isinstance(error, DocumentNotFound) else 500
        status = 400 if isinstance(error, _BAD_INPUT) else status
        status = 503 if isinstance(error, _UNAVAILABLE) else status
        message = public(str(error), roots)
    else:
        status, message = 500, "Internal error: the server's log has the details."
    if isinstance(error, QAError) and status >= 500:  # a state qa names: no traceback needed
        log.warning("%s answered %d: %s", where, status, error)
    elif status >= 500:
        log.error("%s answered %d", where, status, exc_info=error)
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _validation_message(error: RequestValidationError) -> str:
    parts = []
    for item in error.errors()[:3]:
        where = ".".join(str(p) for p in item.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {item.get('msg', 'invalid')}")
    return "Bad request: " + "; ".join(parts) + "."


class _Route(APIRoute):
    """An API route whose every failure is a JSON error (``error_response``)."""

    roots: tuple[Path, ...] = ()  # set per API: its corpus and index folders

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as error:
                where = f"{request.method} {request.url.path}"
                return error_response(error, where, self.roots)

        return guarded


# ----- the API -----------------------------------------------------------------------------


class RestApi:
    """The REST API over ``assistant``. ``keys`` None and ``open_access``: anyone who reaches
    the server may ask, upload and remove (loopback only, unless ``--insecure-no-auth``);
    ``keys`` None otherwise: every call but health is refused."""

    def __init__(
        self,
        assistant: Assistant,
        keys: ApiKeys | None = None,
        limits: Limits | None = None,
        open_access: bool = False,
    ):
        self.assistant, self.keys, self.open_access = assistant, keys, open_access
        self.limits = limits or Limits()
        self.watch = FolderWatch(assistant)  # files changed behind the server's back
        self._removing: set[str] = set()
        self._removing_lock = threading.Lock()
        self.router = self._router()
        self._openapi: dict | None = None

    def app_kwargs(self) -> dict:
        """Gradio's ``launch(app_kwargs=...)``: these routes first, the Gate around them, and
        FastAPI's own docs off (they would describe Gradio's internal routes too)."""
        return {
            "routes": list(self.router.routes),
            "middleware": [
                Middleware(Gate, keys=self.keys, open_access=self.open_access, limits=self.limits)
            ],  # fmt: skip
            "docs_url": None,
            "redoc_url": None,
            "openapi_url": None,
        }

    def openapi(self) -> dict:
        if self._openapi is None:
            routes = [r for r in self.router.routes if getattr(r, "include_in_schema", False)]
            self._openapi = get_openapi(
                title="qa",
                version="1",
                description="Answers quoted from a folder of documents. See docs/api.md.",
                routes=routes,
            )
        return self._openapi

    def _router(self) -> APIRouter:
        roots = (self.assistant.folder, self.assistant.index_dir)
        router = APIRouter(route_class=type("Route", (_Route,), {"roots": roots}))
        keyed = [Security(BEARER)]
        router.add_api_route(
            "/api/ask", self.ask, methods=["POST"], response_model=AnswerOut,
            dependencies=keyed, responses=_errors(), summary="Answer a question",
        )  # fmt: skip
        router.add_api_route(
            "/api/documents", self.documents, methods=["GET"], dependencies=keyed,
            response_model=list[DocumentInfo], responses=_errors(), summary="The documents",
        )  # fmt: skip
        router.add_api_route(
            "/api/documents", self.upload, methods=["POST"], dependencies=keyed,
            response_model=UploadOut, status_code=201, responses=_errors(403, 413, 415),
            summary="Add a document (201; 200 when its content is indexed already)",
        )  # fmt: skip
        router.add_api_route(
            "/api/documents/{doc_id:path}", self.document, methods=["GET"],
            dependencies=keyed, response_model=DocumentOut, responses=_errors(404),
            summary="A document's text and metadata",
        )  # fmt: skip
        router.add_api_route(
            "/api/documents/{doc_id:path}", self.remove, methods=["DELETE"],
            dependencies=keyed, response_model=RemoveOut, responses=_errors(403, 404, 409),
            summary="Move a document to the corpus's .qa-trash/ and drop it from the index",
        )  # fmt: skip
        router.add_api_route(
            "/api/health", self.health, methods=["GET"], response_model=HealthOut,
            responses=_errors(keyed=False), summary="Whether the index answers, and its size",
        )  # fmt: skip
        router.add_api_route("/openapi.json", self.openapi, include_in_schema=False)
        router.add_api_route("/docs", self.docs, include_in_schema=False)
        router.add_api_route(
            "/api/{rest:path}", self.unknown, include_in_schema=False,
            methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"],
        )  # fmt: skip
        return router

    # ----- routes (sync: FastAPI runs them in its thread pool) -----------------------------

    def ask(self, body: AskRequest) -> dict:
        self.watch.check()
        return self.assistant.ask(body.question, history=body.history, k=body.k).to_dict()

    def documents(self) -> list[DocumentInfo]:
        return [_info(source) for source in self.assistant.sources()]

    def document(self, doc_id: str) -> DocumentOut:
        document = self.assistant.document(doc_id)
        info = _info(self.assistant.source(doc_id))
        return DocumentOut(
            **info.model_dump(),
            kind=document.kind,
            sha256=document.sha256,
            text=document.text,
            pages=list(document.pages),
            locations=[Location(start=s, label=label) for s, label in document.locations],
        )

    def upload(
        self,
        response: Response,
        file: UploadFile = File(..., description="The document"),  # noqa: B008 (FastAPI's idiom)
    ) -> UploadOut:
        name = safe_filename(file.filename or "upload")
        if refused := unsupported(name):
            raise ApiError(415, refused)
        cap = self.limits.max_upload_bytes
        if file.size is not None and file.size > cap:
            raise ApiError(413, f"{name}: {file.size:,} bytes is over the {cap:,}-byte limit.")
        with tempfile.TemporaryDirectory(prefix="qa-upload-") as folder:
            source = Path(folder) / name
            with source.open("wb") as out:
                shutil.copyfileobj(file.file, out)
            if source.stat().st_size > cap:  # no size given with the part
                raise ApiError(413, f"{name}: over the {cap:,}-byte limit.")
            same = self.assistant.duplicate_of(source)
            if same is not None:
                response.status_code = 200
                return UploadOut(
                    added=False, document=_info(self.assistant.source(same)), duplicate_of=same
                )
            warning = None
            try:
                added = self.assistant.add_document(source, name)
            except DocumentError as error:
                raise ApiError(400, f"{name}: {error.reason}. Nothing was changed.") from None
            except StoreError as error:  # in the corpus and the local index already
                warning = f"{self.public(error)} The next update stores it."
                added = self.assistant.source(self.assistant.duplicate_of(source) or name)
        return UploadOut(added=True, document=_info(added), warning=warning)

    def remove(self, doc_id: str) -> RemoveOut:
        with self._removing_lock:
            if doc_id in self._removing:
                raise ApiError(409, f"{doc_id} is being removed by another request.")
            self._removing.add(doc_id)
        try:
            indexed = doc_id in self.assistant.documents
            try:
                moved = self.assistant.trash_document(doc_id)
            except DocumentNotFound:
                if indexed:
                    raise ApiError(
                        409,
                        f"{doc_id} changed meanwhile: its file is no longer in the folder "
                        "(removed or renamed); the index catches up shortly.",
                    ) from None
                raise ApiError(404, f"No document {doc_id!r} in the index.") from None
            warning = None
            try:
                self.assistant.refresh()
            except QAError as error:  # the file is in the trash; the next update drops it
                warning = f"Moved, but the index is not updated yet: {self.public(error)}"
            trash = moved.relative_to(self.assistant.folder).as_posix()
            return RemoveOut(removed=doc_id, trash=trash, warning=warning)
        finally:
            with self._removing_lock:
                self._removing.discard(doc_id)

    def health(self) -> HealthOut:
        summary = self.assistant.summary()
        current = generations.current_generation(self.assistant.index_dir)
        stamp = summary.indexed_at
        return HealthOut(
            ok=True,
            generation=current.name if current else None,
            documents=summary.documents,
            passages=summary.passages,
            indexed_at=None if stamp is None else utc(stamp, ISO_8601),
            store=self.assistant.describe_store()["kind"],
        )

    def public(self, error: Exception) -> str:
        return public(str(error), (self.assistant.folder, self.assistant.index_dir))

    def docs(self) -> Response:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="qa API")

    def unknown(self, request: Request) -> None:
        raise ApiError(404, f"No API route {request.method} {request.url.path}; see /docs.")


def _info(source: SourceInfo) -> DocumentInfo:
    path = PurePosixPath(source.doc_id)
    return DocumentInfo(
        id=source.doc_id,
        title=source.title,
        file_name=path.name,
        format=path.suffix.lstrip(".").lower(),
        size=source.size,
        passages=source.passages,
        indexed=utc(source.indexed, ISO_8601),
    )


__all__ = ["AnswerOut", "AskRequest", "ErrorBody", "RestApi", "error_response", "public"]
