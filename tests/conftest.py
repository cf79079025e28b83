"""Shared pytest setup: the library lives in workflow/scripts/downscaling."""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow" / "scripts"))
