"""The 32 request-sign vectors computed by an independent implementation (../shared/sign_vectors.json).

Read from ../shared, beside the repo, where CI lays it; a clone without it uses the committed copy beside this
file, which tests/unit/api/test_signing.py keeps identical to the shared file.
"""

from __future__ import annotations

import json
from pathlib import Path

SHARED_FILE = Path(__file__).resolve().parents[2] / "shared" / "sign_vectors.json"
COPY_FILE = Path(__file__).with_name("sign_vectors.json")
VECTORS: list[dict] = json.loads((SHARED_FILE if SHARED_FILE.exists() else COPY_FILE).read_text(encoding="utf-8"))[
    "vectors"
]
