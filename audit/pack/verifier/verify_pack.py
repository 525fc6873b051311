"""``python verifier/verify_pack.py PACK --key KEY.pub.pem``: the recipient's command.

A script, not the folder's ``__main__.py``: Python caches the compiled ``__main__`` of a folder it runs,
and inside a pack a compiled file is one the signed manifest does not list. So this script turns
bytecode writing off, puts the folder's parent on the path and imports the folder as the package it is.
"""

import importlib
import sys
from pathlib import Path

if __name__ == "__main__":
    sys.dont_write_bytecode = True
    here = Path(__file__).resolve().parent
    sys.path.insert(0, str(here.parent))
    sys.exit(importlib.import_module(f"{here.name}.cli").main())
