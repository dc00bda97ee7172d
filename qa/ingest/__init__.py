"""Ingest: files in, text and spans out.

``documents`` (``Document``: the text every offset refers to, its title, pages and
locations; finding and reading files), ``formats`` (the registry: one reader per suffix),
the readers (``plain``: text and Markdown, with ``Parsed``, what every reader returns;
``html``; ``pdf``; ``office``: .docx and .pptx; ``opendocument``: .odt; ``epub``; ``rtf``;
``packaged``: what the zip-based ones share), ``splitter`` (sentences within the text's
layout blocks, and sentence-aligned passages) and ``text`` (words, terms, stemming, repair
of PDF-split words).
"""
