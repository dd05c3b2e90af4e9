"""The bench's modules are plain scripts in bench/ (run as `python bench/run.py`): put that
directory on sys.path for its tests."""

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))
