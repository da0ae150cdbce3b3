"""Benchmark data: real customer wording, multiplied to any size with variations.

Questions come from the relevance data set beside the repo (``../shared/eval``) when it
is there, otherwise from the demo entries; answers are the demo entries' Markdown, so
bodies, snippets and index size look like a real floor's. Only benchmarks use this.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

EVAL_DIR = settings.BASE_DIR.parent / "shared" / "eval" / "banking77-dev"
DEMO_ENTRIES = Path(__file__).resolve().parents[1] / "demo" / "entries.json"
TAGS = ["billing", "account", "devices", "security", "faults", "orders", "mobile", "internal"]


def _demo() -> list[dict]:
    return json.loads(DEMO_ENTRIES.read_text(encoding="utf-8"))


def base_questions() -> list[str]:
    corpus = EVAL_DIR / "corpus.jsonl"
    if corpus.exists():
        with corpus.open(encoding="utf-8") as handle:
            return [json.loads(line)["question"] for line in handle if line.strip()]
    return [item["question"] for item in _demo()]


def queries(count: int, *, seed: int = 7) -> list[str]:
    """What reps type mid-call: held-out customer messages, whole or as a few words."""
    path = EVAL_DIR / "queries.tsv"
    if path.exists():
        with path.open(encoding="utf-8") as handle:
            texts = [line.split("\t", 1)[0] for line in handle if line.strip()]
    else:
        texts = [item["question"] for item in _demo()]
    rng = random.Random(seed)
    chosen = []
    for _ in range(count):
        words = rng.choice(texts).split()
        if rng.random() < 0.5 and len(words) > 4:
            start = rng.randrange(0, len(words) - 3)
            words = words[start : start + rng.randint(2, 4)]
        chosen.append(" ".join(words))
    return chosen


def records(count: int, *, seed: int = 11) -> Iterator[dict]:
    """``count`` import records; beyond the base set, questions are varied recombinations."""
    rng = random.Random(seed)
    questions = base_questions()
    answers = [item["answer"] for item in _demo()]
    for i in range(count):
        question = questions[i % len(questions)]
        if i >= len(questions):
            donor = rng.choice(questions).split()
            extra = " ".join(donor[: rng.randint(2, 6)])
            question = f"{question} {extra}" if rng.random() < 0.5 else f"{extra} {question}"
        yield {
            "question": question[:1000],
            "answer": answers[i % len(answers)],
            "tags": rng.sample(TAGS, rng.randint(0, 2)),
            "state": "validated" if i % 10 == 0 else "published",
            "author": f"bench{i % 40}",
            "created": None,
        }


def write_jsonl(path: Path, count: int) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for record in records(count):
            handle.write(json.dumps(record) + "\n")
