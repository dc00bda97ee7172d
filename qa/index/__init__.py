"""The index: a corpus of documents kept in step with a folder.

``corpus`` (one generation's documents, spans, vectors and term statistics, read-only),
``dense`` (FAISS over passage vectors), ``lexical`` (BM25 arrays), ``vectors`` (float16/32
rows on disk), ``generations`` (the index folder: generations written whole and switched by an
atomic ``CURRENT``), ``sync`` (``CorpusIndex``: finds new, changed and removed files, embeds
them, swaps the new corpus in) and ``on_ray`` (the same embedding on a Ray cluster).
"""
