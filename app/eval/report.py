"""The evaluation's results as terminal tables (the JSON report holds the same numbers)."""

from __future__ import annotations

from typing import Any


def format_report(report: dict[str, Any]) -> str:
    lines = [f"{report['dataset']} ({report['kind']}): index {report['index']}"]
    lines.append(f"index ready in {report['index_seconds']} s")
    lines += ["", "Retrieval"]
    lines += _table(report["retrieval"], "mode")
    if "threshold_curve" in report:
        lines += ["", "Answerability threshold (v2.0): refusals on unanswerable vs answers"]
        rows = {f"{p['threshold']:.2f}": p for p in report["threshold_curve"]}
        lines += _table(rows, "threshold", keys=["refusal_on_unanswerable",
                                                 "answer_rate_on_answerable"])  # fmt: skip
    for mode, curve in report.get("llm_threshold_curves", {}).items():
        lines += ["", f"{mode}: the model's refusals plus stricter evidence thresholds"]
        rows = {f"{p['threshold']:.2f}": p for p in curve}
        lines += _table(rows, "threshold", keys=["refusal_on_unanswerable",
                                                 "answer_rate_on_answerable"])  # fmt: skip
    if "answers" in report:
        lines += ["", f"Answers (answerable threshold {report['answerable_threshold']})"]
        lines += _table(report["answers"], "answer mode")
    return "\n".join(lines)


def _table(rows: dict[str, dict], first: str, keys: list[str] | None = None) -> list[str]:
    if not rows:
        return ["(none)"]
    keys = keys or list(next(iter(rows.values())).keys())
    header = [first, *keys]
    body = [[name, *(_cell(row.get(k)) for k in keys)] for name, row in rows.items()]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in body]
    return out


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)
