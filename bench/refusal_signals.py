"""Which signal tells SQuAD v2.0's unanswerable questions from answerable ones, with the
bundled model reading short answers.

    .venv/bin/python bench/refusal_signals.py [--questions 300]

Every question is asked in `short` mode with no evidence threshold; for each answer the
bench records the signals a refusal could read:

- `evidence`: the retrieval evidence (the gate's score);
- `not found`: the model's own reply that the text does not answer;
- `reply logprob`: how sure the model was of its phrase (mean and lowest token
  log-probability, local backend);
- `verified`: a second question to the same model over the quoted sentence ("does this
  text answer the question? yes or no"), read as the probability of "yes".

Refusal rules (`not found`, or a signal below its threshold) are fitted on a development
split — the most unanswerable questions refused while answering at least 90% of answerable
ones — and reported on a held-out split of other questions, never looked at while choosing.
Prints both tables and writes bench/results/refusal_signals.json.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from app.eval.datasets import load_squad
from app.eval.runner import EvalOptions, prepare
from app.llm import LLM, Completion, GenerationParams, Message, create_llm
from app.rag.evidence import EvidenceScorer
from app.rag.indexes import IndexLibrary
from app.rag.pipeline import AnswerPipeline
from app.schemas import AskRequest
from app.services import build_retriever
from app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SQUAD = ROOT.parent / "shared" / "datasets" / "squad-sample" / "dev-v2.0-sample.json"
RESULTS = ROOT / "bench" / "results"
ANSWERED = 0.90  # the share of answerable questions a rule must still answer
VERIFY_PROMPT = (
    "You check answers. Reply yes if the text says that the answer given answers the "
    "question, otherwise reply no."
)


class Recording(LLM):
    """The model under test, remembering its last completion (the reader's reply)."""

    def __init__(self, llm: LLM):
        self.llm, self.name, self.capable = llm, llm.name, llm.capable
        self.context_window = llm.context_window
        self.last: Completion | None = None

    def count_tokens(self, text: str) -> int:
        return self.llm.count_tokens(text)

    def complete(self, messages: list[Message], params: GenerationParams) -> Completion:
        self.last = self.llm.complete(messages, params)
        return self.last

    def stream(self, messages, params) -> Iterator[str | Completion]:
        yield from self.llm.stream(messages, params)


def verify_messages(question: str, sentence: str, answer: str) -> list[Message]:
    """A yes/no question to the model: does this sentence give this answer to the question?"""
    text = " ".join(sentence.split())
    asked = f"Text: {text}\n\nQuestion: {question}\nAnswer: {answer}\n\nYes or no?"
    return [{"role": "system", "content": VERIFY_PROMPT}, {"role": "user", "content": asked}]


def yes_probability(llm: LLM, question: str, sentence: str, answer: str) -> float:
    """P("yes") of the model's one-token verdict over the sentence, from its log-probability."""
    asked = verify_messages(question, sentence, answer)
    reply = llm.complete(asked, GenerationParams(max_tokens=1))
    said_yes = reply.text.strip().lower().startswith("yes")
    p = math.exp(reply.token_logprobs[0]) if reply.token_logprobs else 1.0
    return p if said_yes else 1.0 - p


def signals(pipeline: AnswerPipeline, llm: Recording, index: str, question) -> dict:
    request = AskRequest(question=question.text, index=index, answer_mode="short")
    llm.last = None
    response = pipeline.answer(request)
    reply = llm.last
    logprobs = reply.token_logprobs if reply and reply.token_logprobs else (0.0,)
    quoted = [s.quote.text for s in response.sources if s.cited and s.quote]
    row = {
        "id": question.id,
        "impossible": question.impossible,
        "evidence": response.evidence,
        "not_found": not response.answerable,
        "mean_logprob": sum(logprobs) / len(logprobs),
        "min_logprob": min(logprobs),
        "yes": None,
    }
    if response.answerable and quoted:
        answer = response.short_answer or quoted[0]
        row["yes"] = yes_probability(llm.llm, question.text, quoted[0], answer)
    return row


RULES: dict[str, list[str]] = {
    "not found": [],
    "not found + evidence": ["evidence"],
    "not found + reply mean logprob": ["mean_logprob"],
    "not found + reply lowest logprob": ["min_logprob"],
    "not found + verified": ["yes"],
    "not found + evidence + verified": ["evidence", "yes"],
    "not found + mean logprob + verified": ["mean_logprob", "yes"],
}


def refused(row: dict, cuts: dict[str, float]) -> bool:
    if row["not_found"]:
        return True
    return any(row[k] is not None and row[k] < t for k, t in cuts.items())


def score(rows: list[dict], cuts: dict[str, float]) -> tuple[float, float]:
    """(unanswerable refused, answerable answered) under a rule."""
    bad = [r for r in rows if r["impossible"]]
    good = [r for r in rows if not r["impossible"]]
    return (
        sum(refused(r, cuts) for r in bad) / max(len(bad), 1),
        sum(not refused(r, cuts) for r in good) / max(len(good), 1),
    )


def fit(rows: list[dict], keys: list[str]) -> dict[str, float]:
    """The thresholds that refuse the most unanswerable questions at ≥ 90% answered, searched
    over each signal's observed values (coordinate-wise, a few passes)."""
    cuts = {k: -math.inf for k in keys}
    for _ in range(3):
        for key in keys:
            values = sorted({r[key] for r in rows if r[key] is not None})
            best = (score(rows, cuts)[0], cuts[key])
            for value in values[:: max(1, len(values) // 200)]:
                trial = {**cuts, key: value}
                refusal, answered = score(rows, trial)
                if answered >= ANSWERED and refusal > best[0]:
                    best = (refusal, value)
            cuts[key] = best[1]
    return cuts


def table(title: str, rows: list[dict], fitted: dict[str, dict[str, float]]) -> list[dict]:
    print(f"\n{title}: {len(rows)} questions, {sum(r['impossible'] for r in rows)} unanswerable")
    print(f"{'rule':<38} {'refused':>8} {'answered':>9}  thresholds")
    out = []
    for name, cuts in fitted.items():
        refusal, answered = score(rows, cuts)
        shown = ", ".join(f"{k} < {v:.3f}" for k, v in cuts.items() if v > -math.inf)
        print(f"{name:<38} {refusal:>8.1%} {answered:>9.1%}  {shown}")
        out.append({"rule": name, "refused": round(refusal, 4), "answered": round(answered, 4),
                    "thresholds": {k: v for k, v in cuts.items() if v > -math.inf}})  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=300, help="per split (default 300)")
    parser.add_argument("--seed", type=int, default=35)
    args = parser.parse_args(argv)

    dataset = load_squad(SQUAD)
    order = list(dataset.questions)
    random.Random(args.seed).shuffle(order)
    splits = {"development": order[: args.questions],
              "held out": order[args.questions : 2 * args.questions]}  # fmt: skip
    started = time.perf_counter()
    # The evaluation's cached index of the corpus (as `sourced eval` builds it).
    context = prepare(dataset, Settings(), EvalOptions(["hybrid"], ["short"]), print)
    llm = Recording(create_llm(context.settings))
    llm.load()
    settings = context.settings.model_copy(
        update={"answerable_threshold": 0.0, "default_index": context.index.name}
    )
    library = IndexLibrary(context.store, settings.embedding_model, context.index.dimension)
    retriever = build_retriever(settings, context.embedder)
    pipeline = AnswerPipeline(settings, library, retriever, llm, EvidenceScorer(context.embedder))
    rows: dict[str, list[dict]] = {}
    for name, questions in splits.items():
        rows[name] = [
            _progress(n, len(questions), name, started,
                      lambda q=q: signals(pipeline, llm, context.index.name, q))
            for n, q in enumerate(questions, 1)
        ]  # fmt: skip
    fitted = {name: fit(rows["development"], keys) for name, keys in RULES.items()}
    report = {
        "model": llm.model,
        "questions_per_split": args.questions,
        "development": table("Development split (thresholds fitted here)",
                             rows["development"], fitted),
        "held_out": table("Held-out split (thresholds from development)",
                          rows["held out"], fitted),
        "seconds": round(time.perf_counter() - started, 1),
    }  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "refusal_signals.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "refusal_signals_rows.json").write_text(json.dumps(rows) + "\n")


def _progress(n: int, total: int, name: str, started: float, run: Callable[[], dict]) -> dict:
    row = run()
    if n % 25 == 0:
        print(f"{name}: {n}/{total} ({time.perf_counter() - started:.0f} s)", flush=True)
    return row


if __name__ == "__main__":
    main()
