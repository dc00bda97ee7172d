"""The training loop: ``train`` builds the examples, runs AdamW with linear warm-up and decay
over shuffled length-sorted ``batches``, checks a fixed dev sample 8 times (``evaluate``: span
EM / F1 and no-answer ROC AUC, read by ``torch_predictor``), checkpoints every
``checkpoint_every`` steps, resumes from the last checkpoint when started again with the same
output folder, and draws the curve (``plot``).
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Sequence
from math import ceil
from pathlib import Path

import numpy as np

from qa.models import reader as reading

from .examples import (
    Example,
    SplitData,
    TrainSettings,
    build_examples,
    extra_examples,
    squad2_examples,
    synthetic_examples,
)
from .model import reader_loss, span_model, tensors
from .squad import exact_match, f1, roc_auc
from .teacher import from_teacher, teacher_logits


def batches(examples: Sequence[Example], size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of similar-length examples (padding costs time on a CPU)."""
    order = list(range(len(examples)))
    rng.shuffle(order)
    chunk = size * 50  # sort within chunks: similar lengths, still a random order overall
    grouped = []
    for first in range(0, len(order), chunk):
        part = sorted(order[first : first + chunk], key=lambda i: len(examples[i].window))
        grouped += [part[i : i + size] for i in range(0, len(part), size)]
    rng.shuffle(grouped)
    return grouped


# ----- evaluation on dev ----------------------------------------------------------------------


def evaluate(predict, examples: Sequence[Example], batch_size: int = 64) -> dict:
    """Span EM/F1 on the answer windows and no-answer ROC AUC over all windows, for a
    ``predict(examples) -> list[Reading]``."""
    readings = []
    for first in range(0, len(examples), batch_size):
        readings += predict(examples[first : first + batch_size])
    em, f, positive, negative = [], [], [], []
    for e, r in zip(examples, readings):
        if e.answer:
            gold = e.window[e.answer[0] : e.answer[1]]
            em.append(exact_match(e.window[r.start : r.end], [gold]))
            f.append(f1(e.window[r.start : r.end], [gold]))
            positive.append(r.margin)
        else:
            negative.append(r.margin)
    return {
        "em": float(np.mean(em)) if em else float("nan"),
        "f1": float(np.mean(f)) if f else float("nan"),
        "auc": roc_auc(positive, negative),
        "examples": len(examples),
    }


def torch_predictor(model, tok):
    import torch

    def predict(examples: Sequence[Example]) -> list[reading.Reading]:
        (ids, mask, types, *_), batch = tensors(tok, examples)
        model.eval()
        with torch.no_grad():
            start, end = model(ids, mask, types)
        return reading.decode(start.numpy(), end.numpy(), batch)

    return predict


# ----- training -------------------------------------------------------------------------------


def train(
    out: Path,
    squad_path: Path,
    settings: TrainSettings,
    model_dir: str,
    stop_after: int | None = None,
) -> Path | None:
    """Train (or resume) into ``out``; returns the final weights' path (``model.pt``), or
    None when ``stop_after`` steps were run first (the checkpoint then holds the run)."""
    import torch
    from tqdm import tqdm

    if settings.init_from_teacher and not settings.teacher:
        raise ValueError("init_from_teacher needs a teacher")
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(settings.seed)
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    final = out / "model.pt"
    if final.exists():
        print(f"{final} exists: training is done (delete it to train again)")
        return final
    (out / "settings.json").write_text(json.dumps(settings.to_dict(), indent=2))
    print("building examples ...", flush=True)
    train_data = build_examples(squad_path, "train", settings, settings.max_train_questions)
    if settings.extra:
        more = extra_examples([Path(x) for x in settings.extra], squad_path, settings)
        train_data = SplitData(
            train_data.questions + more.questions, train_data.examples + more.examples
        )
    if settings.squad2:
        more = squad2_examples(Path(settings.squad2), squad_path, settings)
        train_data = SplitData(
            train_data.questions + more.questions, train_data.examples + more.examples
        )
    if settings.synthetic:
        more = synthetic_examples(squad_path, settings)
        train_data = SplitData(
            train_data.questions + more.questions, train_data.examples + more.examples
        )
    dev_data = build_examples(squad_path, "dev", settings)
    # A fixed sample keeps each dev check to seconds (all dev windows: ~2 min on 2 cores).
    dev_sample = random.Random(settings.seed).sample(
        dev_data.examples, min(settings.dev_sample, len(dev_data.examples))
    )
    kinds = ("answer", "hard", "random", "plausible", "edited")
    counts = {k: sum(e.kind == k for e in train_data.examples) for k in kinds}
    print(f"train: {train_data.questions} questions, {counts}; dev: {len(dev_data.examples)}")
    tok = reading.tokenizer(model_dir, settings.max_tokens)
    teacher = None
    if settings.teacher:
        teacher = teacher_logits(
            train_data.examples,
            Path(settings.teacher),
            tok,
            model_dir,
            out / "teacher.npz",
            settings.max_tokens,
        )
    model = span_model(model_dir, settings.layers)
    checkpoint = out / "checkpoint.pt"
    if not checkpoint.exists():  # else the checkpoint's weights
        if settings.init_from_teacher:
            from_teacher(model, Path(settings.teacher), settings.layers)
        elif settings.init_from:
            from_teacher(model, Path(settings.init_from), settings.layers)
    rng = random.Random(settings.seed)
    # A fractional epoch count ends part-way through the last epoch's (shuffled) batches.
    plan = [
        batches(train_data.examples, settings.batch_size, rng) for _ in range(ceil(settings.epochs))
    ]
    total = round(settings.epochs * len(plan[0]))
    no_decay = ["bias", "LayerNorm.weight"]
    groups = [
        {
            "params": [p for n, p in model.named_parameters() if not any(x in n for x in no_decay)],
            "weight_decay": settings.weight_decay,
        },
        {
            "params": [p for n, p in model.named_parameters() if any(x in n for x in no_decay)],
            "weight_decay": 0.0,
        },
    ]
    optimizer = torch.optim.AdamW(groups, lr=settings.learning_rate)
    warm = max(1, int(settings.warmup * total))

    def schedule(step: int) -> float:  # linear warm-up, then linear decay to 0
        return step / warm if step < warm else max(0.0, (total - step) / max(1, total - warm))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    step, history = 0, {"train": [], "dev": [], "seconds": 0.0}
    if checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, history = state["step"], state["history"]
        print(f"resumed at step {step} of {total}")
        if history.get("settings", settings.to_dict()) != settings.to_dict():
            # The card must say when a run changed course (e.g. --epochs) part-way.
            history.setdefault("notes", []).append(
                f"resumed at step {step} with other settings: {settings.to_dict()}"
            )
    history["settings"] = settings.to_dict()
    dev_every = max(1, total // 8)
    began = time.perf_counter() - history["seconds"]

    def save() -> None:
        history["seconds"] = time.perf_counter() - began
        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "step": step,
            "history": history,
        }
        torch.save(state, out / "checkpoint.tmp")
        os.replace(out / "checkpoint.tmp", checkpoint)
        (out / "history.json").write_text(json.dumps(history, indent=1))

    flat = [b for epoch in plan for b in epoch]
    if step == 0 and settings.init_from:  # where a continued run starts from
        history["dev"].append([0, evaluate(torch_predictor(model, tok), dev_sample)])
        print(f"step 0: dev {json.dumps(history['dev'][-1][1])}")
    running = []
    bar = tqdm(total=total, initial=step, desc="reader", unit="batch", smoothing=0.05)
    while step < total:
        if stop_after is not None and step >= stop_after:
            bar.close()
            save()
            print(f"stopped at step {step} of {total}; run again to resume")
            return None
        model.train()
        examples = [train_data.examples[i] for i in flat[step]]
        (ids, mask, types, allowed, starts, ends), _ = tensors(tok, examples)
        start_logits, end_logits = model(ids, mask, types)
        soft = teacher.batch(flat[step], mask.sum(1).tolist()) if teacher else None
        loss = reader_loss(
            start_logits,
            end_logits,
            allowed,
            starts,
            ends,
            soft,
            settings.distill_alpha,
            settings.distill_temperature,
        )
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        step += 1
        running.append(loss.item())
        bar.update(1)
        if step % 25 == 0:
            history["train"].append([step, float(np.mean(running))])
            bar.set_postfix(loss=f"{np.mean(running):.3f}")
            running = []
        if step % dev_every == 0 or step == total:
            scores = evaluate(torch_predictor(model, tok), dev_sample)
            history["dev"].append([step, scores])
            bar.write(f"step {step}: dev {json.dumps(scores)}")
        if step % settings.checkpoint_every == 0 or step == total:
            save()
    bar.close()
    torch.save(model.state_dict(), final)
    (out / "history.json").write_text(json.dumps(history, indent=1))
    plot(history, out / "training.png")
    print(f"trained in {history['seconds'] / 60:.1f} min: {final}")
    return final


def plot(history: dict, path: Path) -> None:
    """Training loss and dev span F1 / no-answer AUC against the step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, left = plt.subplots(figsize=(7, 4))
    steps, losses = zip(*history["train"]) if history["train"] else ((), ())
    left.plot(steps, losses, color="tab:blue", label="training loss (mean of 25 batches)")
    left.set_xlabel("step (batch of 16)")
    left.set_ylabel("loss")
    right = left.twinx()
    dev = history["dev"]
    right.plot(
        [s for s, _ in dev], [d["f1"] for _, d in dev], "o-", color="tab:green", label="dev span F1"
    )
    right.plot(
        [s for s, _ in dev],
        [d["auc"] for _, d in dev],
        "s-",
        color="tab:red",
        label="dev no-answer AUC",
    )
    right.set_ylim(0, 1)
    lines = left.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    left.legend(lines[0] + more[0], lines[1] + more[1], loc="center right", fontsize=8)
    left.set_title("qa reader: training on SQuAD training articles")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
