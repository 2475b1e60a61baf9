"""Reading a task request off the wire: JSON or a multipart form with an image.

POST /api/tasks/ takes either content type, which FastAPI cannot declare for one operation,
so this dependency picks the reader; both end in the same pydantic model (`TaskRequest`).
JSON is parsed strictly, because Python's json module is lenient where a server must not be:
it accepts NaN and Infinity (which no later stage can handle), turns 1e999 into infinity,
and recurses without bound. Every string, number and level of nesting is checked here, so
nothing after this point sees a value JSON itself would not allow.

The body's size is bounded before this reads it (FastAPI's `max_body_size` on the route:
streamed, and stopped at the limit even without a Content-Length).
"""

from __future__ import annotations

import io
import json
import math
import threading
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from svlab.work.tasks.api.schemas import TaskRequest

MAX_JSON_BYTES = 1 << 20
MAX_DEPTH = 16  # a storyboard needs 5 (body, storyboard, scenes, scene, settings)
MAX_STRING_CHARS = 2000
MAX_INTEGER = 2**63 - 1
MAX_IMAGE_PIXELS = 50_000_000
MAX_IMAGE_ASPECT = 16.0
DECODES_IN_FLIGHT = 2  # uploads decoded at once: 40 small PNGs declaring 7000x7000 must not
DECODES = threading.BoundedSemaphore(DECODES_IN_FLIGHT)  # be 40 full decodes in memory
IMAGE_FORMATS = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "BMP": ".bmp", "GIF": ".gif",
                 "TIFF": ".tiff"}
FORM_FIELDS = ("image", "prompt", "profile", "settings", "storyboard", "allow_fallback")


@dataclass(frozen=True)
class Submission:
    """A request as read: its fields (validated by `TaskRequest`) and the uploaded image."""

    fields: dict[str, Any]
    image: bytes | None = None


class Refused(HTTPException):
    """A request refused before anything was stored, with a one-line reason."""


def strict_json(body: bytes, *, invalid: str = "request body is not valid JSON",
                status: int = 400) -> Any:
    """`body` as JSON, or Refused: `status` and `invalid` when it is not JSON, 422 when it
    holds what a request may not (NaN or Infinity, numbers beyond 64 bits, nesting past
    MAX_DEPTH, NUL characters, unpaired surrogates, strings over MAX_STRING_CHARS)."""

    def no_constant(name: str):
        raise Refused(422, f"{name} is not a JSON number; accepted: finite numbers")

    def finite(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            raise Refused(422, f"number {text[:40]} is too large; accepted: finite numbers")
        return value

    try:
        text = body.decode("utf-8")
        value = json.loads(text, parse_constant=no_constant, parse_float=finite)
    except RecursionError:
        raise Refused(422, f"JSON nested too deeply; accepted: at most {MAX_DEPTH} "
                           "levels") from None
    except UnicodeDecodeError as e:
        raise Refused(status, f"{invalid}: not UTF-8 ({e.reason} at byte {e.start})") \
            from None
    except ValueError as e:  # JSONDecodeError, and int() of over 4300 digits
        raise Refused(status, f"{invalid}: {e}") from None
    check_values(value)
    return value


def check_values(value: Any) -> None:
    """Refused (422) when a parsed JSON value holds anything `strict_json` refuses."""
    stack = [(value, 1, "")]
    while stack:
        item, depth, where = stack.pop()
        if depth > MAX_DEPTH:
            raise Refused(422, f"JSON nested too deeply at {where}; accepted: at most "
                               f"{MAX_DEPTH} levels")
        if isinstance(item, dict):
            for key, child in item.items():
                check_text(key, f"{where or 'body'} key")
                stack.append((child, depth + 1, f"{where}.{key}".lstrip(".")[:200]))
        elif isinstance(item, list):
            stack.extend((child, depth + 1, f"{where}[{i}]") for i, child in enumerate(item))
        elif isinstance(item, str):
            check_text(item, where or "body")
        elif isinstance(item, int) and not isinstance(item, bool) and abs(item) > MAX_INTEGER:
            raise Refused(422, f"{where or 'body'}: integer too large; accepted: at most "
                               f"{MAX_INTEGER} in size")


def check_text(text: str, where: str) -> None:
    if len(text) > MAX_STRING_CHARS:
        raise Refused(422, f"{where}: text of {len(text)} characters; accepted: at most "
                           f"{MAX_STRING_CHARS} characters")
    if "\x00" in text:
        raise Refused(422, f"{where}: contains a NUL character; accepted: text without NUL")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise Refused(422, f"{where}: contains an unpaired surrogate (\\ud800-\\udfff); "
                           "accepted: valid Unicode text") from None


def validation_message(errors: list[dict[str, Any]]) -> str:
    """Pydantic's (or FastAPI's) validation errors as one line: `field: what is wrong; ...`."""
    parts = []
    for e in errors:
        where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path"))
        msg = e.get("msg", "invalid")
        expected = (e.get("ctx") or {}).get("expected")
        if e.get("type") == "extra_forbidden":
            msg = (f"unknown field; accepted: {', '.join(TaskRequest.model_fields)}"
                   if "." not in where else "unknown field")
        elif e.get("type") == "literal_error" and expected:
            accepted = expected.replace("'", "").replace(" or ", ", ")
            msg = f"unknown value {str(e.get('input'))[:100]!r}; accepted: {accepted}"
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts)


async def read_submission(request: Request, max_upload_bytes: int) -> Submission:
    """The request's fields and image, whichever content type carried them."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        body = bytearray()
        async for chunk in request.stream():  # stopped at the JSON limit, not the upload's
            body += chunk
            if len(body) > MAX_JSON_BYTES:
                raise Refused(413, f"JSON body is too large; accepted: up to "
                                   f"{MAX_JSON_BYTES} bytes")
        fields, image = strict_json(bytes(body)), None
        if not isinstance(fields, dict):
            raise Refused(422, "request body must be a JSON object")
    elif ctype == "multipart/form-data":
        fields, image = await _read_form(request, max_upload_bytes)
    else:
        raise Refused(415, f"unsupported content type {ctype[:100] or 'none'!r}; accepted: "
                           "application/json, multipart/form-data")
    try:
        parsed = TaskRequest.model_validate(fields)
    except ValidationError as e:
        raise Refused(422, validation_message(e.errors())) from None
    return Submission(parsed.model_dump(), image)


async def _read_form(request: Request, max_upload_bytes: int) -> tuple[dict, bytes | None]:
    try:
        form = await request.form(max_files=1, max_fields=len(FORM_FIELDS),
                                  max_part_size=MAX_JSON_BYTES)
    except StarletteHTTPException as e:
        if e.status_code == 413:
            raise
        raise Refused(e.status_code, f"cannot read the form: {e.detail}") from None
    fields: dict[str, Any] = {}
    image = None
    try:
        for key, value in form.multi_items():
            check_text(key, "form field name")
            if key == "image":
                if not isinstance(value, UploadFile):
                    raise Refused(422, "image must be a file upload")
                image = await value.read(max_upload_bytes + 1)
                if len(image) > max_upload_bytes:
                    raise Refused(413, f"image upload is larger than {max_upload_bytes} "
                                       "bytes")
            elif isinstance(value, UploadFile):
                raise Refused(422, f"{key} must be a text field, not a file")
            elif key in ("settings", "storyboard"):
                fields[key] = strict_json(value.encode("utf-8", "surrogatepass"),
                                          invalid=f"{key} must be a JSON object", status=422)
            else:
                check_text(value, key)
                fields[key] = value
    finally:
        await form.close()
    return fields, image


def image_suffix(data: bytes) -> str:
    """The file suffix of an uploaded image. Its size is judged from the header, before any
    pixel is decoded (413 when too large or of an absurd aspect); then Pillow reads all of
    it (415 when it cannot)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt, (width, height) = im.format, im.size
            _check_image_size(width, height)
            if fmt not in IMAGE_FORMATS:
                raise Refused(415, f"image format {fmt} is not accepted; accepted: "
                                   + ", ".join(IMAGE_FORMATS))
            with DECODES:  # admitted by its header; at most DECODES_IN_FLIGHT decoded at once
                im.load()
    except HTTPException:
        raise
    except Image.DecompressionBombError:  # Pillow's own, larger bound, checked on open
        raise Refused(413, f"image has more than {MAX_IMAGE_PIXELS} pixels; accepted: at "
                           "most that many") from None
    except Exception:  # Pillow raises many kinds for a file it cannot read
        raise Refused(415, "upload is not a readable image; accepted: "
                           + ", ".join(IMAGE_FORMATS)) from None
    return IMAGE_FORMATS[fmt]


def _check_image_size(width: int, height: int) -> None:
    if width * height > MAX_IMAGE_PIXELS:
        raise Refused(413, f"image of {width}x{height} has more than {MAX_IMAGE_PIXELS} "
                           "pixels; accepted: at most that many")
    if max(width, height) > MAX_IMAGE_ASPECT * max(1, min(width, height)):
        raise Refused(413, f"image of {width}x{height} is too narrow; accepted: sides at "
                           f"most {MAX_IMAGE_ASPECT:g} times longer than the other")
