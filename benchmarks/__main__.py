"""`python -m benchmarks [name ...]`: run every benchmark module (or the named ones) in turn."""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
from pathlib import Path

# The operators' per-chunk info lines would bury the figures (and time the terminal): warnings and errors only.
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")


def main(names: list[str]) -> None:
    available = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name[0] != "_")
    for name in names or available:
        if name not in available:
            sys.exit(f"unknown benchmark {name!r}; available: {', '.join(available)}")
        print(f"\n=== {name} ===", flush=True)
        importlib.import_module(f"benchmarks.{name}").main()


if __name__ == "__main__":
    main(sys.argv[1:])
