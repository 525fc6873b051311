"""Precision and recall of each PII detector on the labelled set ``tests/data/pii_labelled.jsonl``.

A finding counts as a true positive when a detector reports exactly a labelled string of its
type; any other finding is a false positive; a labelled string no finding matches is a false
negative. Reference in the same run: the bare patterns without validation (what the detector
would flag if it only matched the format), so the table shows what each check buys.

    python benchmarks/pii_precision.py [--data FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audit.privacy.detectors import DETECTORS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def score(data: list[dict], find) -> dict[str, tuple[int, int, int]]:
    out = {}
    for name in DETECTORS:
        tp = fp = fn = 0
        for row in data:
            found = [s.text for s in find(name, row["text"])]
            truth = list(row["pii"].get(name, []))
            for text in found:
                if text in truth:
                    truth.remove(text)
                    tp += 1
                else:
                    fp += 1
            fn += len(truth)
        out[name] = (tp, fp, fn)
    return out


def unvalidated(name: str, text: str):
    """Format-only matching: every candidate of the detector's patterns, no checksum or rule."""
    detector = DETECTORS[name]()
    from audit.privacy.detectors import Span

    patterns = [
        getattr(detector, a) for a in dir(detector) if a.startswith("_") and hasattr(getattr(detector, a), "finditer")
    ]
    if name == "dob":
        patterns = [p for p, _ in detector._dates]
    spans = []
    for pattern in patterns:
        for m in pattern.finditer(text):
            g = m.group(m.lastindex) if name == "ssn" and pattern is detector._bare else m.group(0)
            start = m.start(m.lastindex) if name == "ssn" and pattern is detector._bare else m.start()
            span = Span(name, start, start + len(g), g)
            if not any(s.start < span.end and span.start < s.end for s in spans):
                spans.append(span)
    return spans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "tests" / "data" / "pii_labelled.jsonl")
    args = parser.parse_args()
    data = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    ours = score(data, lambda name, text: DETECTORS[name]().find(text))
    raw = score(data, unvalidated)
    print(
        f"{len(data)} labelled texts from {args.data.relative_to(ROOT) if args.data.is_relative_to(ROOT) else args.data}\n"
    )
    print(
        "| detector | labelled | TP | FP | FN | precision | recall | format-only precision | format-only FP | precision ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, (tp, fp, fn) in ours.items():
        rtp, rfp, _ = raw[name]
        p = tp / (tp + fp) if tp + fp else float("nan")
        r = tp / (tp + fn) if tp + fn else float("nan")
        rp = rtp / (rtp + rfp) if rtp + rfp else float("nan")
        print(
            f"| {name} | {tp + fn} | {tp} | {fp} | {fn} | {p:.2f} | {r:.2f} | {rp:.2f} | {rfp} | {p / rp if rp else float('nan'):.2f}x |"
        )


if __name__ == "__main__":
    main()
