"""The retrieval configurations every eval command compares, and Assistants that differ from
another only in settings (same index, nothing re-embedded)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from qa import Assistant, Settings
from qa.settings import RetrievalSettings

CONFIGS: dict[str, RetrievalSettings] = {
    "bm25": RetrievalSettings(mode="bm25"),
    "dense": RetrievalSettings(mode="dense"),
    "hybrid-rrf": RetrievalSettings(mode="hybrid", fusion="rrf"),
    "hybrid-score": RetrievalSettings(mode="hybrid", fusion="score"),
}


def configurations(names: Sequence[str] | None = None) -> dict[str, RetrievalSettings]:
    """The retrieval configurations to compare, by name (all of ``CONFIGS`` by default)."""
    names = list(names or CONFIGS)
    unknown = [name for name in names if name not in CONFIGS]
    if unknown:
        raise ValueError(f"unknown configuration(s) {unknown}; choose from {list(CONFIGS)}")
    return {name: CONFIGS[name] for name in names}


def shipped_configuration() -> str | None:
    """The name of the configuration qa ships with (``Settings().retrieval``), if listed."""
    default = Settings().retrieval
    return next((name for name, value in CONFIGS.items() if value == default), None)


def with_retrieval(assistant: Assistant, retrieval: RetrievalSettings) -> Assistant:
    """An Assistant over the same index (nothing re-embedded) with other retrieval settings."""
    return Assistant(assistant.index, replace(assistant.settings, retrieval=retrieval))


def with_reader(assistant: Assistant, **changes) -> Assistant:
    """The same index answered with other reader settings."""
    settings = assistant.settings
    return Assistant(assistant.index, replace(settings, reader=replace(settings.reader, **changes)))
