"""Evaluation: the gold Q&A set for the seeds (``python -m eval``) and public benchmarks.

Shared pieces: ``runner`` (the one runner every public benchmark plugs into), ``data`` (where
the data sets are), ``corpus`` (corpus files and their index), ``configs`` (retrieval
configurations), ``ranking`` (asking many questions), ``report`` (result files), ``cli``
(common options), ``metrics``. Benchmarks: ``squad``, ``scifact`` (``python -m
eval.benchmarks``). Commands: ``__main__`` and ``gold``, ``abstention``, ``reader``,
``combine``, ``ablation``, ``sweep``, ``bm25``, ``perf``, ``scale``, ``ray_speed``,
``snapshot``, ``feedback``.
"""
