"""Training qa's reader: ``python -m qa.training reader [--out DIR] [--epochs N] [--ship]``.
The runtime never imports this package; eval imports its SQuAD loaders and split
(``squad``), never the other way round.

Data: SQuAD v1.1 dev (``../shared/data/squad``; the official training sets cannot be had on
these machines), split by article once, before any training (``squad.split_of``). Every
question of a training article gives:

- a positive: the question with one of qa's own passages (``PassageSplitter``, <= 600
  characters, what the pipeline reads) holding a gold answer whole, the answer as target;
- a hard negative: the passage of the training articles that BM25 ranks highest for the
  question among those holding none of its answers (after normalisation), target [CLS];
- with probability ``random_negative``, a random such passage of the same article.

So the no-answer score learns the on-topic kind: same article, same names, fact missing.
The run is reproducible (fixed seed, settings saved beside the output), shows a progress bar
with ETA, checkpoints every ``checkpoint_every`` steps and resumes from the last checkpoint
when started again with the same ``--out``. ``--ship`` exports the result to int8 ONNX (layers
fused, int8 matrix products), checks it against the PyTorch model and writes
``qa/models/reader.onnx`` with its model card; ``--export-only`` does the same export and check
but leaves the model in ``--out``. ``python -m qa.training compile --source FILE [--ship]``
exports a reader already trained again, as a training would now.

A smaller, faster student: ``--layers N`` keeps the packaged transformer's first N layers, and
``--teacher qa/models/reader.onnx`` adds the shipped reader's softened start/end distributions
as targets (``model.distill_loss``), computed once and cached as ``<out>/teacher.npz``;
``--init-from-teacher`` starts the student from the teacher's own layers
(``teacher.from_teacher``).

More data: ``--extra FILE`` (repeatable) adds the articles of other SQuAD-format files, v1.1 or
v2.0 (``examples.extra_examples``: never an article of the evaluation file; SQuAD 2.0's
unanswerable questions give their tempting "plausible answer" window as a negative).
``--squad2`` adds SQuAD 2.0's human-written unanswerable questions of the training articles
(``examples.squad2_examples``); ``--synthetic N`` adds N made ones, training questions with a
number changed or a name swapped (``decoys``, ``examples.synthetic_examples``). Each gives the
window a reader is tempted by as a negative. ``--init-from ONNX`` goes on training a whole
reader instead of starting from the packaged sentence encoder.

Modules, each importing only those above it: ``squad`` (the split, the SQuAD loaders and
answer scores, shared with eval), ``decoys`` (edited questions), ``examples``, ``model`` (the
PyTorch model and losses), ``teacher`` (distillation), ``loop`` (training and dev checks),
``card`` (the model card), ``export`` (int8 ONNX, shipping), ``cli`` (the command line).
"""
