"""Search: where passages are looked up. ``store`` (the ``Store`` protocol and the registry of
stores by name), ``local`` (FAISS and BM25 in this process), ``milvus`` (a Milvus collection)
and ``lease`` (one writer at a time on a shared collection).
"""
