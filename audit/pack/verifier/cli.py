"""``python verifier/verify_pack.py PACK --key KEY.pub.pem``: the recipient's command line."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .checks import verify_pack
from .formats import CannotCheck
from .keys import load_pem


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="verify_pack.py", description="Check an llm-audit evidence pack offline.")
    parser.add_argument("pack", type=Path, help="the pack folder or .zip")
    parser.add_argument("--key", type=Path, action="append", default=[], help="the log's public key (PEM); repeatable")
    parser.add_argument("--witness", action="append", default=[], help="a witness's verifier key (name+hash+key)")
    parser.add_argument("--witnesses", type=int, default=0, help="require this many valid pinned cosignatures")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--junit", type=Path, help="also write a JUnit XML report here")
    parser.add_argument("--opened-out", type=Path, help="write the opened sealed content here (JSON Lines), if proven")
    args = parser.parse_args(argv)
    try:
        result = verify_pack(
            args.pack, [load_pem(k) for k in args.key], witnesses=args.witness, need_witnesses=args.witnesses
        )
    except CannotCheck as exc:
        print(json.dumps({"ok": None, "cannot_check": str(exc)}) if args.json else f"CANNOT CHECK: {exc}")
        return 2
    try:
        if args.junit:
            args.junit.write_text(result.junit(), encoding="utf-8")
        if args.opened_out and result.ok:
            opened = "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in result.opened)
            args.opened_out.write_text(opened, encoding="utf-8")
    except OSError as exc:
        print(f"CANNOT WRITE {exc.filename}: {exc.strerror}")
        return 2
    print(json.dumps(result.to_dict(), indent=2) if args.json else result.text())
    return 0 if result.ok else 1
