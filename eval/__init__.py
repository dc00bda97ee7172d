"""Evaluation: the gold Q&A set for the seeds (``python -m eval``) and public benchmarks."""
