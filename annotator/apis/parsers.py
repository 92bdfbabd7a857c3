"""The API's JSON parser (settings.REST_FRAMEWORK's only one): DRF's, within
bounds. A module of its own, importing nothing of DRF's views: DRF reads its
parser setting while ``rest_framework.views`` is being imported."""

from __future__ import annotations

import codecs
import json
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework import exceptions, parsers

# What a JSON body may be: no request of this API comes near either.
MAX_JSON_DEPTH = 32
MAX_JSON_BYTES = 2 * 2**20


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "The request body is too large."
    default_code = "too_large"


def json_depth(value: Any) -> int:
    """How deeply ``value`` nests lists and objects (a scalar: 0), without recursion."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in children)
    return deepest


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser within bounds (the API's only JSON parser,
    settings.REST_FRAMEWORK): a body over MAX_JSON_BYTES is a 413, one nested
    deeper than MAX_JSON_DEPTH (which would exhaust the parser's recursion) a 400."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        raw = stream.read(MAX_JSON_BYTES + 1) if stream is not None else b""
        if len(raw) > MAX_JSON_BYTES:
            raise PayloadTooLarge(f"The JSON body is larger than {MAX_JSON_BYTES // 2**20} MiB.")
        try:
            data = json.loads(codecs.decode(raw, encoding), parse_constant=_refuse_constant)
        except RecursionError as error:
            raise exceptions.ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels.") from error
        except ValueError as error:
            raise exceptions.ParseError(f"JSON parse error - {error}") from error
        if json_depth(data) > MAX_JSON_DEPTH:
            raise exceptions.ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels.")
        return data


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
