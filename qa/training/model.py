"""The reader's PyTorch model and losses: ``span_model`` (the packaged MiniLM transformer,
perhaps cut to its first layers, with a span head), ``tensors`` (a batch of examples as model
inputs and targets, answers mapped to tokens by ``token_targets``), and the loss: cross-entropy
of the target start and end (``span_loss``), plus, when distilling, the KL divergence from a
teacher's softened distributions (``distill_loss``, ``reader_loss``).
"""

from __future__ import annotations

from collections.abc import Sequence

from qa.models import reader as reading

from .examples import Example

# ----- the model ------------------------------------------------------------------------------


def span_model(model_dir: str, layers: int = 6):
    """The packaged MiniLM transformer, truncated to its first ``layers`` layers, with a fresh
    span head (start, end logits)."""
    import torch
    from transformers import AutoConfig, AutoModel

    class SpanModel(torch.nn.Module):
        def __init__(self, encoder):
            super().__init__()
            self.encoder = encoder
            self.head = torch.nn.Linear(encoder.config.hidden_size, 2)

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            logits = self.head(hidden)
            return logits[..., 0], logits[..., 1]

    packaged = AutoConfig.from_pretrained(model_dir).num_hidden_layers
    if layers == packaged:
        return SpanModel(AutoModel.from_pretrained(model_dir))
    if not 0 < layers < packaged:
        raise ValueError(f"layers must be 1 to {packaged}, not {layers}")
    # Fewer layers: the checkpoint's first ``layers`` are loaded and the rest dropped, so a
    # student starts from the lower layers the teacher was fine-tuned from, not from scratch.
    # Quiet, since transformers lists every dropped weight as "unexpected".
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        return SpanModel(AutoModel.from_pretrained(model_dir, num_hidden_layers=layers))
    finally:
        hf_logging.set_verbosity(verbosity)


def token_targets(batch: reading.Batch, row: int, start: int, end: int) -> tuple[int, int]:
    """Token positions (first, last) of the window characters ``[start, end)`` in pair
    ``row``, or (0, 0), the no-answer position, when truncation cut the answer off."""
    first = last = None
    for position, (a, b) in enumerate(batch.offsets[row]):
        if not batch.window_mask[row, position]:
            continue
        if first is None and b > start:
            first = position
        if a < end:
            last = position
    if first is None or last is None or last < first:
        return 0, 0
    return first, last


def tensors(tok, examples: Sequence[Example]):
    """Model inputs and targets for a batch: (ids, mask, types, allowed, starts, ends)."""
    import torch

    batch = reading.encode(tok, [e.question for e in examples], [e.window for e in examples])
    starts, ends = [], []
    for row, e in enumerate(examples):
        first, last = token_targets(batch, row, *e.answer) if e.answer else (0, 0)
        starts.append(first)
        ends.append(last)
    allowed = batch.window_mask.copy()
    allowed[:, 0] = True  # [CLS]: "no answer here"
    return (
        torch.from_numpy(batch.input_ids),
        torch.from_numpy(batch.attention_mask),
        torch.from_numpy(batch.token_type_ids),
        torch.from_numpy(allowed),
        torch.tensor(starts),
        torch.tensor(ends),
    ), batch


def span_loss(start_logits, end_logits, allowed, starts, ends):
    """Cross-entropy of the target start and end among the allowed positions, averaged."""
    import torch

    fill = torch.finfo(start_logits.dtype).min
    start_logits = start_logits.masked_fill(~allowed, fill)
    end_logits = end_logits.masked_fill(~allowed, fill)
    cross = torch.nn.functional.cross_entropy
    return (cross(start_logits, starts) + cross(end_logits, ends)) / 2


def distill_loss(start_logits, end_logits, teacher_start, teacher_end, allowed, temperature):
    """T^2 * KL(teacher || student) of the start and of the end distributions, each softened
    by ``temperature`` and taken over the allowed positions only (window tokens and [CLS]),
    averaged over the two and over the batch. T^2 keeps the gradients' scale comparable with
    the hard loss's whatever T is (Hinton et al. 2015)."""
    import torch

    def kl(student, teacher):
        fill = torch.finfo(student.dtype).min
        log_s = torch.log_softmax((student / temperature).masked_fill(~allowed, fill), -1)
        log_t = torch.log_softmax((teacher / temperature).masked_fill(~allowed, fill), -1)
        terms = log_t.exp() * (log_t - log_s)
        return torch.where(allowed, terms, torch.zeros_like(terms)).sum(-1).mean()

    return temperature**2 * (kl(start_logits, teacher_start) + kl(end_logits, teacher_end)) / 2


def reader_loss(
    start_logits, end_logits, allowed, starts, ends, teacher=None, alpha=0.5, temperature=2.0
):
    """The training loss: ``span_loss`` alone, or, given ``teacher`` (its start and end
    logits), ``(1 - alpha) * span_loss + alpha * distill_loss``."""
    hard = span_loss(start_logits, end_logits, allowed, starts, ends)
    if teacher is None:
        return hard
    soft = distill_loss(start_logits, end_logits, *teacher, allowed, temperature)
    return (1 - alpha) * hard + alpha * soft
