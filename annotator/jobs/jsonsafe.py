"""JSON for PostgreSQL's jsonb: NaN and infinities become null."""

from __future__ import annotations

import math
from typing import Any


def json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def json_safe_dict(data: dict[str, Any]) -> dict[str, Any]:
    return {key: json_safe(value) for key, value in data.items()}
