"""What every benchmark shares: percentiles, a description of the machine, the results folder
and a plain-text table."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SCIFACT = ROOT.parent / "shared" / "datasets" / "scifact" / "corpus.jsonl"


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0–1) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def machine() -> dict[str, Any]:
    import torch

    return {
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }


def scifact_records(limit: int | None = None) -> list[dict[str, str]]:
    """BEIR SciFact's abstracts, read in place (never copied into the product)."""
    records = []
    with SCIFACT.open(encoding="utf-8") as handle:
        for line in handle:
            records.append(json.loads(line))
            if limit and len(records) >= limit:
                break
    return records


def scifact_questions(limit: int | None = None) -> list[str]:
    """SciFact's questions, in their file's order."""
    with (SCIFACT.parent / "queries.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line)["text"] for line in handle][:limit]


def write_result(name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{name}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    return out


def print_table(title: str, header: list[str], rows: list[list[Any]]) -> None:
    cells = [header] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print(f"\n{title}")
    for n, row in enumerate(cells):
        first, *rest = row
        values = "".join(f"  {c:>{w}}" for c, w in zip(rest, widths[1:], strict=True))
        print("  " + first.ljust(widths[0]) + values)
        if n == 0:
            print("  " + "-" * (sum(widths) + 2 * (len(widths) - 1)))
