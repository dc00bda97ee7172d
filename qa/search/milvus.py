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
while dense search stays in Milvus. Writers take a lease on the collection (qa.lease), so
two of them never interleave their deletes and inserts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from pathlib import Path

import numpy as np

from qa.errors import StoreError
from qa.index.corpus import Corpus, searchable_passage
from qa.search.lease import Lease

log = logging.getLogger(__name__)

MAX_VARCHAR = 65535  # Milvus's VARCHAR limit, in bytes
INSERT_BATCH = 500  # rows per insert call (a row is ~2 kB: vector, text and terms)
FILTER_BATCH = 1000  # keys per filter expression
SEARCH_LIMIT = 16384  # Milvus's largest topk, and most rows a query returns
TOKEN_VARIABLE = "QA_MILVUS_TOKEN"
PROPERTY = "qa_made"  # collection property: what the rows were made with (JSON)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
# Dense index types a collection may be built with. AUTOINDEX lets Milvus choose (HNSW, in
# milvus-lite and on servers: approximate); FLAT is exact, as qa's own store is up to 200k.
INDEX_TYPES = ("AUTOINDEX", "FLAT", "HNSW", "IVF_FLAT")
BM25_SINCE = (2, 5)  # the first Milvus release with BM25 functions (full-text search)
_OUTPUT = ["doc_id", "number", "sha256"]


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
        self._held: Lease | None = None  # the write lease, while sync holds it
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
            self._bm25_in_milvus = self._call(self._has_bm25)
        return not self._bm25_in_milvus

    def server_version(self) -> str:
        """The server's version as it reports it ("v2.3.5-lite"); "milvus-lite" for a file."""
        if not self.uri.startswith(("http://", "https://")):
            return "milvus-lite"
        return str(self._call(self.client.get_server_version))

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
                if not self.uri.startswith(("http://", "https://")) and _locked(self.uri):
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
        if self._held is not None:  # a build that holds the lease already (qa.distributed)
            return self._index_leased(corpus)
        with self.lease():
            return self._index_leased(corpus)

    def lease(self) -> Lease:
        """The exclusive right to write this store's collection (see qa.lease)."""
        return Lease(self, wait=self.lease_wait)

    def check_lease(self) -> None:
        """Raise StoreError unless the write lease is still this store's (and renew it)."""
        if self._held is not None:
            self._call(self._held.check)

    def prepare(self, fingerprint: dict, dim: int, bm25: dict | None) -> bool:
        """Make sure the collection is the one for vectors of ``fingerprint`` and ``dim``
        (``bm25``: Milvus's k1 and b, None where BM25 runs in qa); see _ensure_collection."""
        return self._call(self._ensure_collection, fingerprint, dim, bm25)

    def _index_leased(self, corpus: Corpus) -> tuple[list[str], list[str]]:
        vectors = corpus.passage_vectors
        dim = vectors.shape[1] if len(vectors) else 0
        bm25 = None
        if not self.lexical_embedded:
            bm25 = {"k1": corpus.lexical.k1, "b": corpus.lexical.b}
        if not self.prepare(corpus.fingerprint, dim, bm25):
            return [], []  # nothing to store, and no collection to empty
        stored = self._call(self._stored_documents)
        wanted = {
            doc_id: entry.document.sha256
            for doc_id, entry in corpus.entries.items()
            if len(entry.passages)
        }
        written = sorted(doc_id for doc_id, sha in wanted.items() if stored.get(doc_id) != sha)
        removed = sorted(set(stored) - set(wanted))
        self._call(self._held.check)
        self._call(self._delete, removed)
        rows = (
            document_rows(corpus.entries[d], corpus.titles, with_terms=not self.lexical_embedded)
            for d in written
        )
        self._call(write_documents, self.client, self.collection, rows, self._held.check)
        # Sealed segments keep their search indexes; milvus-lite rebuilds the BM25 index of
        # unflushed rows on every search (SQuAD's 4,219 passages: seconds per question).
        self._call(self.client.flush, self.collection)
        self._lexical = None
        return written, removed

    def _ensure_collection(self, fingerprint: dict, dim: int, bm25: dict) -> bool:
        """Create the collection, or recreate it when made for other vectors or spans.

        With ``dim`` 0 (no passages) an existing collection is kept to be emptied, and none
        is created; returns whether there is a collection.
        """
        from pymilvus import DataType, Function, FunctionType

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
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("pk", DataType.INT64, is_primary=True)
        schema.add_field("doc_key", DataType.INT64)
        schema.add_field("doc_id", DataType.VARCHAR, max_length=MAX_VARCHAR)
        schema.add_field("sha256", DataType.VARCHAR, max_length=64)
        schema.add_field("number", DataType.INT64)
        schema.add_field("start", DataType.INT64)
        schema.add_field("end", DataType.INT64)
        schema.add_field("text", DataType.VARCHAR, max_length=MAX_VARCHAR)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        params = client.prepare_index_params()
        params.add_index("vector", index_type=self.index_type, metric_type="IP")
        if bm25 is not None:
            # qa's terms joined by spaces: the standard tokenizer splits them back unchanged.
            schema.add_field(
                "terms",
                DataType.VARCHAR,
                max_length=MAX_VARCHAR,
                enable_analyzer=True,
                analyzer_params={"tokenizer": "standard"},
            )
            schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
            schema.add_function(
                Function(
                    name="bm25",
                    function_type=FunctionType.BM25,
                    input_field_names=["terms"],
                    output_field_names=["sparse"],
                )
            )
            # qa's k1 and b. pymilvus sends params flattened, which servers read; milvus-lite
            # reads only a "params" JSON entry (it used k1 1.5 without it), so send both.
            tuning = {"bm25_k1": bm25["k1"], "bm25_b": bm25["b"]}
            params.add_index(
                "sparse",
                index_type="SPARSE_INVERTED_INDEX",
                metric_type="BM25",
                params={**tuning, "params": tuning},
            )
        client.create_collection(
            name,
            schema=schema,
            index_params=params,
            consistency_level="Strong",
            properties={PROPERTY: json.dumps(made)},
        )
        return True

    def _stored_documents(self) -> dict[str, str]:
        """Each completely stored document's content hash, by id.

        Read in ranges of document keys, halved while a range fills a query's 16,384 rows
        (milvus-lite has no query iterator).
        """
        found: dict[str, str] = {}
        ranges = [(-(2**63), 2**63 - 1)]
        while ranges:
            low, high = ranges.pop()
            rows = self.client.query(
                self.collection,
                filter=_key_range(low, high),
                output_fields=_OUTPUT,
                limit=SEARCH_LIMIT,
            )
            if len(rows) >= SEARCH_LIMIT and low < high:
                middle = (low + high) // 2
                ranges += [(low, middle), (middle + 1, high)]
                continue
            found.update((row["doc_id"], row["sha256"]) for row in rows)
        return found

    def _delete(self, doc_ids: list[str]) -> None:
        delete_documents(self.client, self.collection, doc_ids)

    # ----- searching ----------------------------------------------------------------------

    def search_dense(self, corpus, vector, k):
        hits = self._call(
            self.client.search,
            self.collection,
            data=[np.asarray(vector, dtype=np.float32).tolist()],
            anns_field="vector",
            limit=min(k, SEARCH_LIMIT),
            output_fields=_OUTPUT,
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
        hits = self._call(
            self.client.search,
            self.collection,
            data=[" ".join(terms)],
            anns_field="sparse",
            limit=limit,
            filter=filter,
            output_fields=_OUTPUT,
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

    def _call(self, function, *args, **kwargs):
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


def document_rows(entry, titles: bool, with_terms: bool) -> list[dict]:
    """The rows of one document's passages: ``entry`` is a ``DocumentEntry`` with its passage
    vectors; ``titles``, whether passages are searched with their title (PassageSettings);
    ``with_terms``, whether Milvus runs BM25 (over the terms qa's own analysis makes)."""
    from qa.ingest.text import terms

    document = entry.document
    doc_id, key = document.doc_id, document_key(document.doc_id)
    title = document.title if titles else ""
    rows = []
    for number, (start, end, _, _) in enumerate(entry.passages.tolist()):
        text = document.text[start:end]
        row = {
            "pk": passage_key(doc_id, number),
            "doc_key": key,
            "doc_id": _clip(doc_id),
            "sha256": document.sha256,
            "number": number,
            "start": start,
            "end": end,
            "text": _clip(text),
            "vector": np.asarray(entry.passage_vectors[number], dtype=np.float32).tolist(),
        }
        if with_terms:
            row["terms"] = _clip(" ".join(terms(searchable_passage(title, text))))
        rows.append(row)
    return rows


def write_documents(client, collection: str, documents, before_write=None) -> None:
    """Replace the rows of whole documents (``documents``: each one's ``document_rows``).

    Their old rows are deleted first (an interrupted insert may have left some). A group's
    passages 0 are inserted after its other rows, so a document counts as stored only once
    complete. ``before_write`` is called before each request (a lease's check).
    """
    check = before_write or (lambda: None)
    group: list[list[dict]] = []
    size = 0
    for rows in documents:
        if rows:
            group.append(rows)
            size += len(rows)
        if size >= INSERT_BATCH:
            _write_group(client, collection, group, check)
            group, size = [], 0
    _write_group(client, collection, group, check)


def _write_group(client, collection: str, group: list[list[dict]], check) -> None:
    keys = [rows[0]["doc_key"] for rows in group]
    for n in range(0, len(keys), FILTER_BATCH):
        check()
        client.delete(
            collection, filter=f"doc_key in [{', '.join(map(str, keys[n : n + FILTER_BATCH]))}]"
        )
    rows = [row for rows in group for row in rows]
    for part in ([r for r in rows if r["number"] != 0], [r for r in rows if r["number"] == 0]):
        for n in range(0, len(part), INSERT_BATCH):
            check()
            client.insert(collection, part[n : n + INSERT_BATCH])


def delete_documents(client, collection: str, doc_ids: list[str]) -> None:
    """Delete every row of the documents ``doc_ids``."""
    for n in range(0, len(doc_ids), FILTER_BATCH):
        keys = ", ".join(str(document_key(d)) for d in doc_ids[n : n + FILTER_BATCH])
        client.delete(collection, filter=f"doc_key in [{keys}]")


def default_collection(folder: Path, index_dir: Path) -> str:
    """``qa_<folder name>_<hash of the index folder>``: one collection per index."""
    stem = re.sub(r"[^A-Za-z0-9_]+", "_", Path(folder).resolve().name).strip("_")[:40]
    digest = hashlib.blake2b(str(Path(index_dir).resolve()).encode(), digest_size=4).hexdigest()
    return f"qa_{stem}_{digest}" if stem else f"qa_{digest}"


def _key_range(low: int, high: int) -> str:
    """A filter for the passages 0 with document keys in [low, high]. The 64-bit extremes are
    left out: Milvus 2.3 parses -9223372036854775808 as minus an out-of-range number."""
    bounds = ["number == 0"]
    if low > -(2**63):
        bounds.append(f"doc_key >= {low}")
    if high < 2**63 - 1:
        bounds.append(f"doc_key <= {high}")
    return " and ".join(bounds)


def document_key(doc_id: str) -> int:
    """A signed 64-bit key of a document id."""
    return _key64(doc_id.encode("utf-8"))


def passage_key(doc_id: str, number: int) -> int:
    """A signed 64-bit key of a document's passage."""
    return _key64(doc_id.encode("utf-8") + b"\0" + str(number).encode())


def _key64(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big", signed=True)


def _clip(text: str, limit: int = MAX_VARCHAR) -> str:
    """``text`` cut to ``limit`` UTF-8 bytes (on a character boundary)."""
    data = text.encode("utf-8")
    return text if len(data) <= limit else data[:limit].decode("utf-8", errors="ignore")


def _locked(uri: str) -> bool:
    """Whether another process holds milvus-lite's lock on its data folder ``uri``.

    milvus-lite finds that in its server process and pymilvus says only "Open local milvus
    failed", so after a failure qa tries the same lock (an flock of ``uri/LOCK``) itself.
    """
    try:
        from milvus_lite.db import LOCK_FILENAME
    except ImportError:  # no milvus-lite: cannot tell
        return False
    return flock_held(Path(uri) / LOCK_FILENAME)


def flock_held(path: Path) -> bool:
    """Whether another process holds an flock on ``path`` (False when it cannot tell: no such
    file, or not a Unix system)."""
    try:
        import fcntl
    except ImportError:
        return False
    try:
        fd = os.open(path, os.O_RDONLY)  # flock needs no write access
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # closing releases the lock when it was taken
    return False


def _reason(error: Exception) -> str:
    return getattr(error, "message", None) or str(error) or type(error).__name__
