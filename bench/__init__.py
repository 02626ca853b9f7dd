"""tablecast benchmarks: each prints its figures beside its peers' from the same run."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

Results = list[dict[str, Any]]


def emit(results: Results, as_json: bool, report: Callable[[Results], None]) -> Results:
    """Print a benchmark's results: as JSON (for the tests and scripts) or as its table."""
    if as_json:
        print(json.dumps(results))
    else:
        report(results)
    return results
