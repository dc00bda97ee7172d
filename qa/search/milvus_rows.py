"""Milvus rows: a document's passages as rows of qa's collection (vector, text, terms, keys),
written and deleted in batches, by ``MilvusStore`` in this process or by a ``RowWriter`` in a
Ray worker. Keys are 64-bit hashes of document ids, so a document's rows are found without a
lookup table."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np

from qa.index.corpus import searchable_passage
from qa.ingest.text import terms

MAX_VARCHAR = 65535  # Milvus's VARCHAR limit, in bytes
INSERT_BATCH = 500  # rows per insert call (a row is ~2 kB: vector, text and terms)
FILTER_BATCH = 1000  # keys per filter expression
SEARCH_LIMIT = 16384  # Milvus's largest topk, and most rows a query returns
PROPERTY = "qa_made"  # collection property: what the rows were made with (JSON)
OUTPUT = ["doc_id", "number", "sha256"]  # the fields that find a hit's passage


class RowWriter:
    """Writes documents' rows into a Milvus server's collection from another process (a Ray
    worker), as ``MilvusStore.remote_writer`` described it."""

    def __init__(self, description: dict):
        from pymilvus import MilvusClient

        self.collection = description["collection"]
        self.with_terms = description["with_terms"]
        self.client = MilvusClient(
            uri=description["uri"], token=description["token"], timeout=description["timeout"]
        )

    def __call__(self, entries: list, titles: bool) -> None:
        rows = (document_rows(e, titles, self.with_terms) for e in entries)
        write_documents(self.client, self.collection, rows)


def document_rows(entry, titles: bool, with_terms: bool) -> list[dict]:
    """The rows of one document's passages: ``entry`` is a ``DocumentEntry`` with its passage
    vectors; ``titles``, whether passages are searched with their title (PassageSettings);
    ``with_terms``, whether Milvus runs BM25 (over the terms qa's own analysis makes)."""

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


def key_range(low: int, high: int) -> str:
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


def create_collection(client, name: str, dim: int, index_type: str, bm25, made: dict) -> None:
    """Create qa's collection ``name``: passages with their spans, ``dim``-long vectors under
    ``index_type``, and (``bm25``: Milvus's k1 and b) their terms under Milvus's BM25;
    ``made`` is recorded with it, to tell a collection made for other vectors."""
    from pymilvus import DataType, Function, FunctionType

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
    params.add_index("vector", index_type=index_type, metric_type="IP")
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


def stored_documents(client, collection: str) -> dict[str, str]:
    """Each completely stored document's content hash, by id.

    Read in ranges of document keys, halved while a range fills a query's 16,384 rows
    (milvus-lite has no query iterator).
    """
    found: dict[str, str] = {}
    ranges = [(-(2**63), 2**63 - 1)]
    while ranges:
        low, high = ranges.pop()
        rows = client.query(
            collection,
            filter=key_range(low, high),
            output_fields=OUTPUT,
            limit=SEARCH_LIMIT,
        )
        if len(rows) >= SEARCH_LIMIT and low < high:
            middle = (low + high) // 2
            ranges += [(low, middle), (middle + 1, high)]
            continue
        found.update((row["doc_id"], row["sha256"]) for row in rows)
    return found
