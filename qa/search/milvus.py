"""Milvus store: passages, their vectors and BM25 kept in a Milvus collection (pymilvus).

One row per passage: its document, number, span and text; its vector (searched by inner
product); and its terms (qa's own analysis: folded, stemmed, split-repaired words), which
Milvus's BM25 function turns into a sparse vector. Passing qa's terms rather than raw text
keeps the lexical matching the same on both stores ("Ch ina" still matches "China").

Rows are keyed by document: an update deletes the rows of changed and removed documents and
inserts the changed and new ones, leaving the rest alone. A document counts as stored once
its passage number 0 is, and that row is inserted after the document's others, so an update
cut short is finished by the next one. Keys are 64-bit hashes of the document id (and the
passage number), so filters hold only integers whatever the file names are.

Servers older than Milvus 2.5 have no BM25 function: there the collection holds no terms and
BM25 runs in this process over the index's own passages (bm25s, as in the default store),
while dense search stays in Milvus. Writers take a lease on the collection (qa.search.lease), so
two of them never interleave their deletes and inserts.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from qa.errors import SettingsError, StoreError
from qa.index.corpus import Corpus
from qa.search.lease import Lease, lite_locked
from qa.search.milvus_rows import (
    OUTPUT,
    PROPERTY,
    SEARCH_LIMIT,
    create_collection,
    default_collection,
    delete_documents,
    document_rows,
    passage_key,
    stored_documents,
    write_documents,
)

log = logging.getLogger(__name__)

TOKEN_VARIABLE = "QA_MILVUS_TOKEN"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
# Dense index types a collection may be built with. AUTOINDEX lets Milvus choose (HNSW, in
# milvus-lite and on servers: approximate); FLAT is exact, as qa's own store is up to 200k.
INDEX_TYPES = ("AUTOINDEX", "FLAT", "HNSW", "IVF_FLAT")
BM25_SINCE = (2, 5)  # the first Milvus release with BM25 functions (full-text search)


class MilvusStore:
    """Passages searched in a Milvus collection: dense by inner product, lexical by BM25."""

    embedded = False  # FAISS stays empty; the corpus keeps BM25's term statistics only

    def __init__(
        self,
        uri: str,
        collection: str | None = None,
        token: str | None = None,
        timeout: float = 10.0,
        index_type: str = "AUTOINDEX",
    ):
        if collection is not None and not _NAME.fullmatch(collection):
            raise ValueError(
                f"Bad Milvus collection name {collection!r}: letters, digits and _ only, "
                "not starting with a digit"
            )
        if index_type.upper() not in INDEX_TYPES:
            raise ValueError(f"Milvus index must be one of {INDEX_TYPES}, not {index_type!r}")
        self.uri = uri
        self.collection = collection
        self.index_type = index_type.upper()
        self.token = os.environ.get(TOKEN_VARIABLE, "") if token is None else token
        self.timeout = timeout
        self._client = None
        # The last lexical search's hits, kept for score_lexical: (corpus, terms, scores).
        self._lexical: tuple[Corpus, tuple[str, ...], dict[int, float]] | None = None
        self._bm25_in_milvus: bool | None = None  # probed on first need
        self.held: Lease | None = (
            None  # the write lease while this store holds it (qa.search.lease)
        )
        self.lease_wait: float | None = None  # seconds to wait for another writer (None: 600)

    @classmethod
    def local(cls, path: str, collection: str | None = None, **options) -> MilvusStore:
        """A milvus-lite store in the file ``path`` (which must end in .db)."""
        file = Path(path).expanduser()
        if file.suffix != ".db":
            raise ValueError(f"A milvus-lite store is a file ending in .db, not {path!r}")
        file.parent.mkdir(parents=True, exist_ok=True)
        return cls(str(file.resolve()), collection, **options)

    def place(self, folder: Path, index_dir: Path) -> None:
        """Name the collection after the index, unless it was named (``?collection=``)."""
        if self.collection is None:
            self.collection = default_collection(folder, index_dir)

    def describe(self) -> dict:
        described = {
            "kind": "milvus",
            "uri": self.uri,
            "collection": self.collection,
            "index": self.index_type,
        }
        if self._bm25_in_milvus is not None:
            described["bm25"] = "milvus" if self._bm25_in_milvus else "qa"
        return described

    @property
    def lexical_embedded(self) -> bool:
        """Whether BM25 runs in this process: on servers without BM25 functions (before 2.5)."""
        if self._bm25_in_milvus is None:
            self._bm25_in_milvus = self.call(self._has_bm25)
        return not self._bm25_in_milvus

    def server_version(self) -> str:
        """The server's version as it reports it ("v2.3.5-lite"); "milvus-lite" for a file."""
        if not self.uri.startswith(("http://", "https://")):
            return "milvus-lite"
        return str(self.call(self.client.get_server_version))

    def _has_bm25(self) -> bool:
        """Whether the server has BM25 functions: milvus-lite 3 does; servers since 2.5.

        A version that does not parse (a cloud service's own numbering) is taken to have
        them; creating the collection then says what is missing.
        """
        version = self.server_version()
        if version == "milvus-lite":
            return True
        found = re.search(r"(\d+)\.(\d+)", version)
        return found is None or (int(found[1]), int(found[2])) >= BM25_SINCE

    @property
    def client(self):
        """The pymilvus client, connected on first use."""
        if self._client is None:
            try:
                from pymilvus import MilvusClient
            except ImportError as error:
                raise StoreError(
                    "The Milvus store needs pymilvus (and milvus-lite for a local file): "
                    "pip install 'qa[milvus]'"
                ) from error
            logging.getLogger("pymilvus").setLevel(logging.CRITICAL)  # we raise what matters
            options = {}
            if not self.uri.startswith(("http://", "https://")):
                # milvus-lite serves in this process and logs calls it does not implement (a
                # timestamp on creating a collection) as errors, though nothing fails.
                logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
                # pymilvus pings every 10 s even when idle; in long runs milvus-lite's server
                # answered with GOAWAY "too_many_pings" (printed to stderr): ping during calls.
                options["grpc_options"] = {"grpc.keepalive_permit_without_calls": 0}
            try:
                self._client = MilvusClient(
                    uri=self.uri, token=self.token, timeout=self.timeout, **options
                )
            except Exception as error:
                if not self.uri.startswith(("http://", "https://")) and lite_locked(self.uri):
                    raise StoreError(
                        f"The milvus-lite file {self.uri} is locked: another process has it "
                        "open, and milvus-lite serves one process at a time. Stop that "
                        "process, use another file, or share a Milvus server (milvus://HOST:PORT)."
                    ) from error
                raise StoreError(
                    f"Cannot reach Milvus at {self.uri}: {_reason(error)}. Is the server "
                    "running, and the address (and $QA_MILVUS_TOKEN) right?"
                ) from error
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # ----- keeping it up to date ----------------------------------------------------------

    def index(self, corpus: Corpus) -> tuple[list[str], list[str]]:
        """Delete and insert the rows of changed, new and removed documents only."""
        if self.held is not None:  # a build that holds the lease already (qa.index.on_ray)
            return self._index_leased(corpus)
        with self.lease():
            return self._index_leased(corpus)

    def lease(self) -> Lease:
        """The exclusive right to write this store's collection (see qa.search.lease)."""
        return Lease(self, wait=self.lease_wait)

    def check_lease(self) -> None:
        """Raise StoreError unless the write lease is still this store's (and renew it)."""
        if self.held is not None:
            self.call(self.held.check)

    keep_writing = check_lease

    @property
    def remote(self) -> bool:
        """Whether other processes can write to it: a server (milvus-lite serves only the
        process that opened it, so its rows are written here, by the store's sync)."""
        return self.uri.startswith(("http://", "https://"))

    def remote_writer(self, fingerprint: dict, dimension, bm25: dict | None) -> dict | None:
        """For a server: its collection made ready for ``fingerprint``'s vectors, and what a
        ``RowWriter`` needs to write rows to it (the token included: handed to qa's own Ray
        workers only, never logged)."""
        if not self.remote:
            return None
        self.prepare(fingerprint, dimension(), bm25)
        return {
            "kind": "milvus",
            "uri": self.uri,
            "token": self.token,
            "collection": self.collection,
            "with_terms": not self.lexical_embedded,
            "timeout": self.timeout,
        }

    def prepare(self, fingerprint: dict, dim: int, bm25: dict | None) -> bool:
        """Make sure the collection is the one for vectors of ``fingerprint`` and ``dim``
        (``bm25``: Milvus's k1 and b, None where BM25 runs in qa); see _ensure_collection."""
        return self.call(self._ensure_collection, fingerprint, dim, bm25)

    def _index_leased(self, corpus: Corpus) -> tuple[list[str], list[str]]:
        vectors = corpus.passage_vectors
        dim = vectors.shape[1] if len(vectors) else 0
        bm25 = None
        if not self.lexical_embedded:
            bm25 = {"k1": corpus.lexical.k1, "b": corpus.lexical.b}
        if not self.prepare(corpus.fingerprint, dim, bm25):
            return [], []  # nothing to store, and no collection to empty
        stored = self.call(stored_documents, self.client, self.collection)
        wanted = {
            doc_id: entry.document.sha256
            for doc_id, entry in corpus.entries.items()
            if len(entry.passages)
        }
        written = sorted(doc_id for doc_id, sha in wanted.items() if stored.get(doc_id) != sha)
        removed = sorted(set(stored) - set(wanted))
        self.call(self.held.check)
        self.call(self._delete, removed)
        rows = (
            document_rows(corpus.entries[d], corpus.titles, with_terms=not self.lexical_embedded)
            for d in written
        )
        self.call(write_documents, self.client, self.collection, rows, self.held.check)
        # Sealed segments keep their search indexes; milvus-lite rebuilds the BM25 index of
        # unflushed rows on every search (SQuAD's 4,219 passages: seconds per question).
        self.call(self.client.flush, self.collection)
        self._lexical = None
        return written, removed

    def _ensure_collection(self, fingerprint: dict, dim: int, bm25: dict) -> bool:
        """Create the collection, or recreate it when made for other vectors or spans.

        With ``dim`` 0 (no passages) an existing collection is kept to be emptied, and none
        is created; returns whether there is a collection.
        """
        client, name = self.client, self.collection
        # bm25: Milvus's BM25 settings, or None where BM25 runs in qa (no terms stored).
        made = {"qa": fingerprint, "dim": dim, "index": self.index_type, "bm25": bm25}
        if client.has_collection(name):
            try:
                properties = client.describe_collection(name).get("properties") or {}
                found = json.loads(properties.get(PROPERTY) or "")
            except ValueError:
                found = None
            if not isinstance(found, dict) or "qa" not in found:
                raise StoreError(
                    f"The Milvus collection {name} at {self.uri} was not made by qa; "
                    "choose another with ?collection=NAME"
                )
            same = found.get("qa") == fingerprint and found.get("index") == self.index_type
            same = same and found.get("bm25") == bm25
            if same and dim in (0, found.get("dim")):
                client.load_collection(name)
                return True
            log.warning("Rebuilding Milvus collection %s: it was built with %s", name, found)
            client.drop_collection(name)
        if not dim:
            return False
        create_collection(client, name, dim, self.index_type, bm25, made)
        return True

    def _delete(self, doc_ids: list[str]) -> None:
        delete_documents(self.client, self.collection, doc_ids)

    # ----- searching ----------------------------------------------------------------------

    def search_dense(self, corpus, vector, k):
        hits = self.call(
            self.client.search,
            self.collection,
            data=[np.asarray(vector, dtype=np.float32).tolist()],
            anns_field="vector",
            limit=min(k, SEARCH_LIMIT),
            output_fields=OUTPUT,
            search_params={"metric_type": "IP"},
        )
        return self._passages(corpus, hits[0])

    def search_lexical(self, corpus, terms, k):
        if self.lexical_embedded:
            return corpus.lexical.search(list(terms), k)
        if not terms:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        ids, scores = self._search_terms(corpus, terms, min(k, SEARCH_LIMIT))
        keep = scores > 0
        ids, scores = ids[keep], scores[keep]
        self._lexical = (corpus, tuple(terms), dict(zip(ids.tolist(), scores.tolist())))
        return ids, scores

    def score_lexical(self, corpus, terms, ids):
        if self.lexical_embedded:
            return corpus.lexical.scores(list(terms))[ids]
        cached = self._lexical
        same = cached is not None and cached[0] is corpus and cached[1] == tuple(terms)
        known = dict(cached[2]) if same else {}
        unknown = [int(i) for i in ids if int(i) not in known]
        if unknown and terms:
            keys = ", ".join(str(passage_key(*corpus.passage_key(i))) for i in unknown)
            found, scores = self._search_terms(corpus, terms, len(unknown), f"pk in [{keys}]")
            known.update(zip(found.tolist(), scores.tolist()))
        return np.array([known.get(int(i), 0.0) for i in ids], dtype=np.float32)

    def _search_terms(self, corpus, terms, limit, filter=""):
        hits = self.call(
            self.client.search,
            self.collection,
            data=[" ".join(terms)],
            anns_field="sparse",
            limit=limit,
            filter=filter,
            output_fields=OUTPUT,
            search_params={"metric_type": "BM25"},
        )
        ids, scores = self._passages(corpus, hits[0])
        # milvus-lite reports BM25 negated (its distances ascend); a server reports it as is.
        return ids, np.abs(scores)

    def _passages(self, corpus: Corpus, hits) -> tuple[np.ndarray, np.ndarray]:
        """Passage ids and scores of search hits, leaving out rows ``corpus`` does not hold."""
        ids, scores = [], []
        for hit in hits:
            row = hit["entity"]
            entry = corpus.entries.get(row["doc_id"])
            if entry is None or entry.document.sha256 != row["sha256"]:
                continue  # written by another process since this corpus was loaded
            passage = corpus.passage_id(row["doc_id"], int(row["number"]))
            if passage is None:
                continue
            ids.append(passage)
            scores.append(hit["distance"])
        return np.array(ids, dtype=np.int64), np.array(scores, dtype=np.float32)

    def call(self, function, *args, **kwargs):
        """Run a Milvus call, turning its failures into a StoreError that says where.

        A server that restarted (after a crash) serves its collections unloaded: the call
        is tried once more after loading this store's collection.
        """
        try:
            try:
                return function(*args, **kwargs)
            except Exception as error:
                if "not loaded" not in _reason(error) or self.collection is None:
                    raise
                log.warning("Loading Milvus collection %s again: %s", self.collection, error)
                self.client.load_collection(self.collection)
                return function(*args, **kwargs)
        except StoreError:
            raise
        except Exception as error:
            if type(error).__module__.split(".")[0] not in ("pymilvus", "grpc", "milvus_lite"):
                raise
            raise StoreError(
                f"Milvus at {self.uri} (collection {self.collection}) failed: {_reason(error)}"
            ) from error


def open_lite(base: str, options: dict) -> MilvusStore:
    """``milvus-lite:PATH.db``: a Milvus in a local file."""
    path = base.removeprefix("milvus-lite:")
    return MilvusStore.local(path, options.get("collection"), index_type=_index(options))


def open_server(base: str, options: dict) -> MilvusStore:
    """``milvus://HOST:PORT`` (or ``http(s)://``): a Milvus server, port 19530 by default."""
    parts = urlsplit(base)
    if not parts.hostname:
        raise SettingsError(f"No host in store {base!r}: use milvus://HOST:PORT")
    scheme = "http" if parts.scheme == "milvus" else parts.scheme
    uri = f"{scheme}://{parts.hostname}:{parts.port or 19530}"
    return MilvusStore(uri, options.get("collection"), index_type=_index(options))


def _index(options: dict) -> str:
    return options.get("index", "AUTOINDEX")


def _reason(error: Exception) -> str:
    return getattr(error, "message", None) or str(error) or type(error).__name__
