"""The import job's report: every unit of an import (a page with its lines, one
page of a multi-page TIFF, or one line pair), imported, skipped with its reason
(``SkippedError``: no fault of the file), or failed with its reason. The job
(``jobs.imports``) stores it on ``ImportJob.report`` as it goes; the units
(``jobs.import_units``) add to its counts and warnings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from annotator.errors import InvalidInputError

IMPORTED, SKIPPED, FAILED = "imported", "skipped", "failed"
REPORT_ITEMS = 1000


class SkippedError(Exception):
    """A unit not imported for a reason that is no fault of the file."""

    def __init__(self, reason: str, *, new_version: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.new_version = new_version


@dataclass
class ImportReport:
    pages_created: int = 0
    lines_created: int = 0
    lines_with_text: int = 0
    pixels_decoded: int = 0
    new_version_offered: bool = False
    units: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, name: str, status: str, *, reason: str = "", document: str = "") -> None:
        self.units.append({"name": name, "status": status, "reason": reason, "document": document})

    def _with(self, status: str) -> list[dict[str, str]]:
        return [{"name": unit["name"], "reason": unit["reason"]} for unit in self.units if unit["status"] == status]

    def as_dict(self) -> dict[str, Any]:
        skipped = self._with(SKIPPED)
        return {
            "pages_created": self.pages_created,
            "lines_created": self.lines_created,
            "lines_with_text": self.lines_with_text,
            "imported": sum(unit["status"] == IMPORTED for unit in self.units),
            "skipped_existing": len(skipped),
            "skipped": skipped[:REPORT_ITEMS],
            "rejected": self._with(FAILED)[:REPORT_ITEMS],
            "units": self.units[:REPORT_ITEMS],
            "new_version_offered": self.new_version_offered,
            "pixels_decoded": self.pixels_decoded,
            "warnings": self.warnings[:REPORT_ITEMS],
        }


def error_reason(error: Exception) -> str:
    """Why a unit failed, as the report says it."""
    if isinstance(error, InvalidInputError):
        return error.message
    return str(error).removeprefix("<bytes>: ")
