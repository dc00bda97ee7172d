"""The passage size sweep (python -m eval.sweep): settings parsing and a small real run."""

from __future__ import annotations

import json

import pytest

from eval import squad, sweep
from qa.settings import PassageSettings

from .conftest import require_data


def test_sizes_parse_into_passage_settings():
    assert sweep.parse_sizes("300:1, 600:0,900,600:1:t") == [
        PassageSettings(max_chars=300, overlap=1),
        PassageSettings(max_chars=600, overlap=0),
        PassageSettings(max_chars=900, overlap=1),
        PassageSettings(max_chars=600, overlap=1, titles=True),
    ]


@pytest.mark.slow  # an end-to-end benchmark run: minutes on 2 cores
def test_sweep_end_to_end_on_one_article(tmp_path, monkeypatch, embedder):
    require_data(squad.FILE)
    monkeypatch.setattr(sweep, "Embedder", lambda: embedder)  # the session's loaded model
    args = ["--sizes", "450:1", "--articles", "1", "--limit", "30", "--joins"]
    summary = sweep.main(args + ["--out", str(tmp_path)])
    assert summary == json.loads((tmp_path / "sweep.json").read_text())
    rows = summary["rows"]
    assert list(rows) == ["450:1", "450:1 no joins"]
    joined, alone = rows["450:1"], rows["450:1 no joins"]
    for row in rows.values():
        for name, value in row.items():
            if name not in ("passages", "squad_extract_chars"):
                assert 0.0 <= value <= 1.0, (name, value)
    assert joined["squad_psg@5"] >= 0.4  # the same index and ranking for both rows
    assert joined["squad_psg@5"] == alone["squad_psg@5"]
    # Joining adds a neighbouring sentence now and then: extracts are never shorter.
    assert joined["squad_extract_chars"] >= alone["squad_extract_chars"] > 20
    assert joined["dev_hit@1"] >= 0.7 and joined["test_hit@1"] >= 0.7
