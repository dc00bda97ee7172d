"""The reader: span decoding, token targets, the shipped int8 model, and its place in ``ask``."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import numpy as np
import pytest

from qa import Assistant, Settings
from qa.models.embedder import resolve_model
from qa.models.reader import (
    CARD_FILE,
    MODEL_FILE,
    MODEL_FOLDER,
    Reader,
    decode,
    encode,
    groups,
    shared_reader,
    tokenizer,
)
from qa.pipeline.policy import NO_READER_ANSWER
from qa.pipeline.read import ReadingStage, window
from qa.settings import ReaderSettings
from qa.training.model import token_targets
from qa.values import Query

SUPER_BOWL = (
    "Super Bowl 50 was an American football game to determine the champion of the National "
    "Football League (NFL) for the 2015 season. The American Football Conference (AFC) "
    "champion Denver Broncos defeated the National Football Conference (NFC) champion "
    "Carolina Panthers 24-10 to earn their third Super Bowl title. The game was played on "
    "February 7, 2016, at Levi's Stadium in the San Francisco Bay Area at Santa Clara, "
    "California."
)
WEATHER = (
    "The weather on the lake was calm all summer. Fishermen reported a good season for perch "
    "and pike, and the ferry kept its timetable every day."
)


@pytest.fixture(scope="module")
def tok():
    return tokenizer(resolve_model(None))


needs_model = pytest.mark.skipif(
    not MODEL_FILE.is_file(), reason=f"no reader model shipped at {MODEL_FILE}"
)


@pytest.fixture(scope="module")
def reader() -> Reader:
    found = shared_reader()
    assert found is not None, f"the shipped reader model is missing: {MODEL_FILE}"
    return found


@pytest.fixture(scope="module")
def reading_assistant(seeds_assistant) -> Assistant:
    """The seeds Assistant with the reader switched on (as by default), whatever the
    session's settings."""
    settings = seeds_assistant.settings
    return Assistant(
        seeds_assistant.index, replace(settings, reader=replace(settings.reader, enabled=True))
    )


# ----- decoding and targets (no model) ----------------------------------------------------------


def test_token_targets_map_characters_to_the_answer_tokens(tok):
    batch = encode(tok, ["Who won?"], [SUPER_BOWL])
    start = SUPER_BOWL.index("Denver Broncos")
    first, last = token_targets(batch, 0, start, start + len("Denver Broncos"))
    offsets = batch.offsets[0]
    assert SUPER_BOWL[offsets[first][0] : offsets[last][1]] == "Denver Broncos"
    assert batch.window_mask[0, first] and batch.window_mask[0, last]
    # Question tokens are never window tokens; [CLS] (0) is the no-answer position.
    assert not batch.window_mask[0, :4].any()


def test_token_targets_of_a_truncated_answer_are_no_answer(tok):
    long_window = "word " * 400 + "Denver Broncos"
    batch = encode(tok, ["Who won?"], [long_window])
    start = long_window.index("Denver")
    assert token_targets(batch, 0, start, start + 14) == (0, 0)


def test_decode_picks_the_best_span_within_the_window_and_its_length_limit(tok):
    batch = encode(tok, ["Who won?"], [SUPER_BOWL])
    width = batch.input_ids.shape[1]
    start, end = np.zeros((1, width)), np.zeros((1, width))
    target = SUPER_BOWL.index("Carolina Panthers")
    first, last = token_targets(batch, 0, target, target + len("Carolina Panthers"))
    start[0, first], end[0, last] = 5.0, 4.0
    start[0, 1], end[0, 1] = 50.0, 50.0  # a question token: never an answer
    end[0, first - 1] = 3.0  # ends before the start: not a span
    (reading,) = decode(start, end, batch)
    assert SUPER_BOWL[reading.start : reading.end] == "Carolina Panthers"
    assert reading.margin == pytest.approx(9.0)  # 5 + 4 against [CLS]'s 0 + 0
    assert 0.99 < reading.has_answer < 1.0
    # A span longer than the limit loses to a shorter one.
    start[0, first], end[0, last] = 0.0, 0.0
    start[0, first], end[0, first + 40] = 5.0, 5.0
    (reading,) = decode(start, end, batch, max_answer_tokens=30)
    assert reading.end - reading.start < 60


def test_reader_question_puts_the_asked_question_first():
    from qa.pipeline.query import reader_question

    assert reader_question("Who won?", "Who won?") == "Who won?"
    assert (
        reader_question("And when was it signed?", "Where was it signed? And when was it signed?")
        == "And when was it signed? Where was it signed?"
    )


# ----- the shipped model -------------------------------------------------------------------------


@needs_model
def test_the_shipped_model_is_small_and_matches_its_card():
    facts = json.loads((MODEL_FOLDER / "reader.json").read_text())
    data = MODEL_FILE.read_bytes()
    assert len(data) <= 32 * 1024 * 1024
    assert hashlib.sha256(data).hexdigest() == facts["sha256"]
    assert facts["span_agreement_int8_vs_torch"] >= 0.85  # qa.training.export.AGREEMENT
    card = CARD_FILE.read_text()
    assert facts["sha256"] in card and "CC BY-SA 4.0" in card


@needs_model
def test_the_reader_points_at_the_answer_and_doubts_a_window_without_one(reader):
    readings = reader.run(
        ["Which team won Super Bowl 50?", "Which team won Super Bowl 50?"], [SUPER_BOWL, WEATHER]
    )
    assert SUPER_BOWL[readings[0].start : readings[0].end] == "Denver Broncos"
    assert readings[0].has_answer > 0.5 > readings[1].has_answer
    # Batched or alone, the same reading.
    (alone,) = reader.run("Which team won Super Bowl 50?", [SUPER_BOWL])
    assert (alone.start, alone.end) == (readings[0].start, readings[0].end)
    assert alone.margin == pytest.approx(readings[0].margin, abs=1e-3)


@needs_model
def test_reading_needs_no_torch(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys; from qa.models.reader import shared_reader; r = shared_reader(); "
        "r.run('Who won?', ['The Broncos won.']); "
        "print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


# ----- in the pipeline ---------------------------------------------------------------------------


@needs_model
def test_the_answer_phrase_is_the_readers_span_inside_the_extract(reading_assistant):
    seeds_assistant = reading_assistant
    answer = seeds_assistant.ask("Where was the road transport agreement signed?")
    assert not answer.abstained and answer.answerability is not None
    best = answer.extracts[0]
    assert best.start <= best.focus_start < best.focus_end <= best.end
    text = seeds_assistant.document(best.doc_id).text
    assert "Dushanbe" in text[best.focus_start : best.focus_end]
    assert "reader" in best.signals and "read" in answer.timings


def test_the_reader_can_be_switched_off(seeds_assistant):
    settings = replace(seeds_assistant.settings, reader=ReaderSettings(enabled=False))
    off = Assistant(seeds_assistant.index, settings)
    answer = off.ask("Where was the road transport agreement signed?")
    assert answer.answerability is None and "read" not in answer.timings
    assert "reader" not in answer.extracts[0].signals
    assert Settings.from_dict(settings.to_dict()).reader.enabled is False


@needs_model
def test_the_best_passage_is_read_first_and_the_others_only_when_it_is_unsure(reading_assistant):
    """Issue 32, "read less": one window instead of four when the best passage is sure."""
    assistant = reading_assistant
    question = "Where was the road transport agreement signed?"
    query = Query.of(question, assistant.embedder.encode_questions([question])[0])
    candidates = assistant.retriever.run(query, assistant.index.corpus, assistant.index.store, 10)
    reader = assistant.reading().reader

    def stage(stop_above: float) -> ReadingStage:
        return ReadingStage(reader, replace(assistant.settings.reader, stop_above=stop_above))

    together = stage(1.0).run(query, candidates)  # as before: the best four, together
    assert len(together) == 4 and together[0].has_answer >= 0.5
    first = stage(0.5).run(query, candidates)  # sure of the best one: the others not read
    assert first == together[:1]
    unsure = stage(together[0].has_answer + 1e-6).run(query, candidates)  # not sure enough
    assert unsure == together
    assert ReaderSettings.from_dict(ReaderSettings(stop_above=0.7).to_dict()).stop_above == 0.7


def test_a_window_grows_from_the_best_sentence_towards_the_better_neighbour():
    bounds = [(0, 100), (101, 200), (201, 300), (301, 400)]
    assert window(bounds, [0.1, 0.9, 0.5, 0.2], 250) == (1, 2)  # 2 scores above 0
    assert window(bounds, [0.1, 0.9, 0.5, 0.2], 400) == (0, 3)  # the whole passage fits
    assert window(bounds, [0.5, 0.9, 0.1, 0.2], 250) == (0, 1)
    assert window(bounds, [0.1, 0.2, 0.3, 0.9], 120) == (3, 3)  # one sentence: no neighbour fits
    assert window([(0, 500)], [0.3], 250) == (0, 0)  # a sentence longer than the window: whole


@needs_model
def test_the_reader_reads_a_window_of_the_passage_and_points_into_the_document(
    reading_assistant,
):
    """Issue 32, "read less": the sentences nearest the question, not the whole passage."""
    assistant = reading_assistant
    question = "Where was the road transport agreement signed?"
    query = Query.of(question, assistant.embedder.encode_questions([question])[0])
    corpus = assistant.index.corpus
    candidates = assistant.retriever.run(query, corpus, assistant.index.store, 10)
    reader = assistant.reading().reader
    settings = replace(assistant.settings.reader, stop_above=1.0, window=200)
    stage = ReadingStage(reader, settings)
    long = [c for c in candidates[:4] if len(c.passage.text) > 200]
    assert long, "the seeds' best passages are longer than 200 characters"
    for candidate in long:
        start, end = stage.span(query, candidate.passage, corpus)
        assert candidate.passage.start <= start < end <= candidate.passage.end
        assert end - start < len(candidate.passage.text)
    for reading in stage.run(query, candidates, corpus):
        text = corpus.document(reading.doc_id).text
        assert reading.passage.start <= reading.start <= reading.end <= reading.passage.end
        assert text[reading.start : reading.end].strip()
    best = stage.run(query, candidates, corpus)[0]
    assert "Dushanbe" in corpus.document(best.doc_id).text[best.start : best.end]
    whole = ReadingStage(reader, replace(settings, window=0))
    assert whole.span(query, candidates[0].passage, corpus) == (
        candidates[0].passage.start,
        candidates[0].passage.end,
    )
    assert ReaderSettings.from_dict(ReaderSettings(window=250).to_dict()).window == 250


@needs_model
def test_no_answer_from_the_reader_is_an_abstention_with_its_reason(reading_assistant):
    seeds_assistant = reading_assistant
    strict = replace(
        seeds_assistant.settings,
        reader=replace(seeds_assistant.settings.reader, no_answer_below=1.01),
    )
    answer = Assistant(seeds_assistant.index, strict).ask(
        "Where was the road transport agreement signed?"
    )
    assert answer.abstained and answer.abstain_reason == NO_READER_ANSWER
    assert answer.related and not answer.extracts


def test_an_answer_survives_to_dict_and_from_dict(seeds_assistant):
    from qa import Answer

    answer = seeds_assistant.ask("Where was the road transport agreement signed?")
    data = json.loads(json.dumps(answer.to_dict()))
    again = Answer.from_dict(data)
    assert again == answer and again.message == answer.message


@needs_model
def test_a_window_read_again_comes_from_the_memo(reader):
    question = "Which team won Super Bowl 50?"
    first = reader.run(question, [SUPER_BOWL, WEATHER])
    calls = []
    logits = reader.logits
    reader.logits = lambda batch: calls.append(batch) or logits(batch)
    try:
        again = reader.run(question, [WEATHER, SUPER_BOWL, "The Broncos won it."])
    finally:
        del reader.logits
    assert again[:2] == [first[1], first[0]]
    assert len(calls) == 1 and calls[0].input_ids.shape[0] == 1  # only the new window
    size = reader.memo_size
    reader.memo_size = 1
    try:
        reader.run(question, [WEATHER])
        assert len(reader.memo) == 1
    finally:
        reader.memo_size = size


def test_pairs_of_like_length_are_read_together_and_each_once():
    # Shortest first; a longer pair joins while padding the batch to it costs <= 20 tokens:
    # (45 - 40) * 1 = 5 and (50 - 45) * 2 = 10 join; (100 - 50) * 3 and (130 - 100) * 1 do not.
    assert groups([100, 40, 45, 130, 50], most=16, call_cost=20) == [[1, 2, 4], [0], [3]]
    assert groups([10, 10, 10], most=2, call_cost=20) == [[0, 1], [2]]  # at most `most`
    assert groups([60, 10], most=16, call_cost=10**6) == [[1, 0]]  # padding free: one batch
    assert groups([], most=16) == []
    lengths = list(np.random.default_rng(0).integers(20, 200, 50))
    batches = groups(lengths, most=16)
    assert sorted(i for batch in batches for i in batch) == list(range(50))


def test_reading_in_groups_reads_as_one_padded_batch_does(reader, tok):
    """An fp32 reader reads pairs of like length together, as one padded batch would; the
    shipped int8 one reads each pair alone (its activations' scale is the whole call's), so a
    reading does not depend on what else was read with it."""
    question = "Which team won Super Bowl 50?"
    windows = [SUPER_BOWL, WEATHER, SUPER_BOWL[:120], WEATHER + " " + SUPER_BOWL]
    calls = []
    logits = reader.logits
    reader.logits = lambda batch: calls.append(batch) or logits(batch)
    try:
        reader.memo.clear()
        grouped = reader.run(question, windows)
    finally:
        del reader.logits
    reader.memo.clear()
    if reader.batch_size == 1:
        assert [len(batch.input_ids) for batch in calls] == [1, 1, 1, 1]
        alone = [reader.run(question, [w])[0] for w in reversed(windows)][::-1]
        assert grouped == alone  # the same numbers, whatever was read before
        return
    assert len(calls) > 1  # the lengths differ enough to be read apart
    batch = encode(tok, [question] * len(windows), windows)
    together = decode(*reader.logits(batch), batch)
    for a, b in zip(grouped, together):
        assert (a.start, a.end) == (b.start, b.end)
        assert a.margin == pytest.approx(b.margin, abs=1e-3)


def test_the_abstention_threshold_follows_the_reader(seeds_assistant):
    settings = replace(
        seeds_assistant.settings, abstain_below=0.2, abstain_below_without_reader=0.4
    )
    off = replace(settings, reader=replace(settings.reader, enabled=False))
    assert Assistant(seeds_assistant.index, off).abstain_threshold() == 0.4
    on = Assistant(seeds_assistant.index, replace(settings, reader=ReaderSettings(enabled=True)))
    assert on.abstain_threshold() == (0.2 if MODEL_FILE.is_file() else 0.4)
    again = Settings.from_dict(settings.to_dict())
    assert (again.abstain_below, again.abstain_below_without_reader) == (0.2, 0.4)


def test_another_reader_file_is_a_setting_that_survives_to_dict(seeds_assistant, tmp_path):
    student = ReaderSettings(model="build/reader3/reader.onnx", passages=3)
    assert ReaderSettings.from_dict(student.to_dict()) == student
    assert ReaderSettings.from_dict({}).model == ""  # settings saved before it: the packaged
    settings = replace(seeds_assistant.settings, reader=student)
    assert Settings.from_dict(json.loads(json.dumps(settings.to_dict()))).reader == student
    # A file that is not there: qa answers without the reader, as for a missing packaged one.
    missing = replace(student, enabled=True, model=str(tmp_path / "none.onnx"))
    without = Assistant(seeds_assistant.index, replace(settings, reader=missing))
    assert without.reading() is None


@needs_model
def test_the_packaged_reader_is_the_default_and_shared(seeds_assistant, reader):
    on = replace(seeds_assistant.settings, reader=ReaderSettings(enabled=True))
    assert Assistant(seeds_assistant.index, on).reading().reader is reader
    named = replace(on, reader=ReaderSettings(enabled=True, model=str(MODEL_FILE)))
    assert Assistant(seeds_assistant.index, named).reading().reader is reader


@needs_model
def test_a_reader_loaded_in_the_background_is_the_shared_one(tmp_path):
    import shutil

    from qa.models import reader as module

    copy = tmp_path / "reader.onnx"
    shutil.copyfile(MODEL_FILE, copy)
    module.load_in_background(copy)
    loading = module._shared[str(copy)]
    found = shared_reader(copy)
    assert found is loading.result() and found.path == copy and shared_reader(copy) is found
    module._shared.pop(str(copy))  # one reader of the same weights is enough for the session


def test_a_reader_file_that_fails_to_load_fails_each_time_it_is_asked_for(tmp_path):
    from qa.models import reader as module

    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx file")
    module.load_in_background(broken)
    for _ in range(2):  # raised where the reader is wanted, then tried again, not remembered
        with pytest.raises(Exception, match="(?i)protobuf|invalid|load"):
            shared_reader(broken)
    assert str(broken) not in module._shared
    assert shared_reader(tmp_path / "none.onnx") is None  # no file: answer without a reader


def test_readers_are_chosen_by_one_registry_keyed_by_the_model_files_suffix(tmp_path):
    from qa.errors import ReaderModelError
    from qa.models.reader import READERS, Reader, reader_class

    assert READERS[".onnx"] is Reader and reader_class(tmp_path / "r.ONNX") is Reader
    with pytest.raises(ReaderModelError, match="not a reader model qa loads"):
        reader_class(tmp_path / "reader.bin")
