"""What a benchmark run leaves: the summary JSON, the per-question CSV, the curves' PNG, the
printed Markdown table, and which qa code the figures describe."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .data import ROOT


def source_state() -> dict:
    """Which qa code the figures describe: git commit, local changes to qa/, a hash of qa/*.py."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "qa").glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    state = {"qa_sources_sha256": digest.hexdigest()[:16], "commit": None, "qa_modified": None}
    try:
        run = {"cwd": ROOT, "capture_output": True, "text": True, "timeout": 10, "check": True}
        state["commit"] = subprocess.run(["git", "rev-parse", "HEAD"], **run).stdout.strip()
        changes = subprocess.run(["git", "status", "--porcelain", "--", "qa"], **run).stdout
        state["qa_modified"] = bool(changes.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return state


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def markdown_table(summary: dict, columns: Sequence[tuple[str, str, str]]) -> str:
    """The summary's configurations (shipped one marked) and reference rows as Markdown."""
    lines = [
        "| configuration | " + " | ".join(header for header, _, _ in columns) + " |",
        "| --- |" + " ---: |" * len(columns),
    ]
    rows = [
        (f"{name} (shipped)" if result["shipped"] else name, result)
        for name, result in summary["configs"].items()
    ] + [(reference["name"], reference) for reference in summary["reference"]]
    for label, values in rows:
        cells = [
            format(values[key], fmt) if values.get(key) is not None else "—"
            for _, key, fmt in columns
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def print_report(summary: dict, columns: Sequence[tuple[str, str, str]]) -> None:
    """Print the results table and the wall time of each phase."""
    timings = summary["timings_seconds"]
    evaluate = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in timings["evaluate"].items())
    print()
    print(markdown_table(summary, columns))
    print()
    print(
        f"wall time: index {timings['index']:.1f} s, "
        f"embedding questions {timings['embed_questions']:.1f} s, "
        f"evaluation ({evaluate}), total {timings['total']:.1f} s"
    )


def plot_curves(
    path: Path,
    curves: dict[str, list[float]],
    title: str,
    ylabel: str,
    shipped: str | None,
    dashed: dict[str, list[float]] | None = None,
    dashed_label: str | None = None,
) -> None:
    """A PNG of one curve per configuration over k = 1..len(curve) (optional dashed twins)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5))
    for n, (name, curve) in enumerate(curves.items()):
        colour = f"C{n}"
        k = np.arange(1, len(curve) + 1)
        label = f"{name} (shipped)" if name == shipped else name
        axes.plot(k, curve, color=colour, label=label, linewidth=2.2 if name == shipped else 1.4)
        if dashed and name in dashed:
            axes.plot(k, dashed[name], color=colour, linestyle="--", linewidth=1)
    axes.set_xlabel("k")
    axes.set_ylabel(ylabel)
    axes.set_title(title, fontsize=10)
    axes.set_ylim(0, 1)
    axes.grid(alpha=0.3)
    axes.legend(title=dashed_label, title_fontsize=8, loc="lower right")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def model_suffix(model: str | None) -> str:
    """A results file's mark for a reader other than the shipped one: its folder and name,
    e.g. ``_model-reader3-reader`` (empty for the shipped reader)."""
    if not model:
        return ""
    path = Path(model)
    return f"_model-{path.parent.name}-{path.stem}"
