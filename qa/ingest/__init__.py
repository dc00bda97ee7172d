"""Ingest: files in, text and spans out.

``documents`` (``Document``; the registry of formats, one reader per suffix), ``formats`` (how
each format is read), ``splitter`` (sentences and sentence-aligned passages) and ``text``
(words, terms, stemming, repair of PDF-split words).
"""
