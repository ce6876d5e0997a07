"""Message content: text, images, audio and documents as an ordered tuple of parts.

``Content`` is what a :class:`~llmcore.messages.Message` carries. The named constructors
(``Content.from_text``, ``from_image_file``, ``new_image``, ``from_audio_file``, ``new_audio``)
each build a one-part content; ``+`` joins contents into a multimodal one::

    Content.from_text("What is in this picture?") + Content.from_image_file("cat.png")

Binary media is held base64-encoded so that every content serialises to JSON as it is. The MIME
type of bytes and files is sniffed from the bytes, never trusted from the file name.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterable, Mapping
from typing import Any, Literal, Union

import attrs

from llmcore._repr import attrs_repr
from llmcore.errors import ConfigurationError, InvalidInputError
from llmcore.validation import check_str, describe, fail, items_of

__all__ = [
    "AudioPart",
    "Content",
    "DocumentPart",
    "ImagePart",
    "Part",
    "TextPart",
    "sniff_mime",
]


def _opt_str(_instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_str(attribute.name, value, optional=True)


def _tag(expected: str) -> Any:
    def check(_instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value != expected:
            fail(attribute.name, f"must be {expected!r}, got {describe(value)}")

    return check


@attrs_repr
@attrs.frozen(repr=False)
class TextPart:
    """Plain text."""

    text: str = attrs.field(validator=lambda _i, _a, v: check_str("text", v))
    type: Literal["text"] = attrs.field(default="text", validator=_tag("text"))


@attrs_repr
@attrs.frozen(repr=False)
class ImagePart:
    """An image given by URL or by base64 data (exactly one of them).

    ``detail`` is OpenAI's ``auto|low|high`` hint; ``name`` is informational.
    """

    url: str | None = attrs.field(default=None, validator=_opt_str)
    data: str | None = attrs.field(default=None, validator=_opt_str)
    mime_type: str | None = attrs.field(default=None, validator=_opt_str)
    name: str | None = attrs.field(default=None, validator=_opt_str)
    detail: str | None = attrs.field(default=None, validator=_opt_str)
    type: Literal["image"] = attrs.field(default="image", validator=_tag("image"))

    def __attrs_post_init__(self) -> None:
        if (self.url is None) == (self.data is None):
            raise InvalidInputError.at("url", "ImagePart needs exactly one of url= or data=")

    def data_url(self) -> str:
        """The image as a URL: the given URL, or a ``data:`` URL for inline bytes."""
        if self.url is not None:
            return self.url
        return f"data:{self.mime_type or 'application/octet-stream'};base64,{self.data}"

    def raw_bytes(self) -> bytes:
        """Decoded inline bytes (``ConfigurationError`` for URL images)."""
        if self.data is None:
            raise ConfigurationError("this image is a URL, it has no inline bytes")
        return base64.b64decode(self.data)


@attrs_repr
@attrs.frozen(repr=False)
class AudioPart:
    """Audio given by URL or by base64 data; ``format`` is the short name (``wav``, ``mp3``)."""

    url: str | None = attrs.field(default=None, validator=_opt_str)
    data: str | None = attrs.field(default=None, validator=_opt_str)
    mime_type: str | None = attrs.field(default=None, validator=_opt_str)
    format: str | None = attrs.field(default=None, validator=_opt_str)
    type: Literal["audio"] = attrs.field(default="audio", validator=_tag("audio"))

    def __attrs_post_init__(self) -> None:
        if (self.url is None) == (self.data is None):
            raise InvalidInputError.at("url", "AudioPart needs exactly one of url= or data=")


@attrs_repr
@attrs.frozen(repr=False)
class DocumentPart:
    """A document (PDF, plain text) given by URL or by base64 data."""

    url: str | None = attrs.field(default=None, validator=_opt_str)
    data: str | None = attrs.field(default=None, validator=_opt_str)
    mime_type: str | None = attrs.field(default=None, validator=_opt_str)
    name: str | None = attrs.field(default=None, validator=_opt_str)
    type: Literal["document"] = attrs.field(default="document", validator=_tag("document"))

    def __attrs_post_init__(self) -> None:
        if (self.url is None) == (self.data is None):
            raise InvalidInputError.at("url", "DocumentPart needs exactly one of url= or data=")


Part = Union[TextPart, ImagePart, AudioPart, DocumentPart]

_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"BM", 0, "image/bmp"),
    (b"%PDF-", 0, "application/pdf"),
    (b"ID3", 0, "audio/mpeg"),
    (b"\xff\xfb", 0, "audio/mpeg"),
    (b"\xff\xf3", 0, "audio/mpeg"),
    (b"\xff\xf2", 0, "audio/mpeg"),
    (b"fLaC", 0, "audio/flac"),
    (b"OggS", 0, "audio/ogg"),
)

_AUDIO_FORMATS = {
    "audio/wav": "wav",
    "audio/mpeg": "mp3",
    "audio/flac": "flac",
    "audio/ogg": "ogg",
    "audio/webm": "webm",
    "audio/mp4": "m4a",
}


def sniff_mime(data: bytes) -> str | None:
    """Guess a MIME type from the first bytes of ``data`` (images, audio, PDF); None if unknown."""
    for magic, offset, mime in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/wav"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in {b"heic", b"heix", b"mif1"}:
            return "image/heic"
        if brand in {b"M4A ", b"M4B "}:
            return "audio/mp4"
    if data[:4] == b"\x1aE\xdf\xa3":
        return "audio/webm"
    return None


def _read_file(path: str | os.PathLike[str]) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise ConfigurationError(f"cannot read media file {os.fspath(path)!r}: {exc}") from exc


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _check_b64(data: str) -> str:
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigurationError(f"invalid base64 media data: {exc}") from exc
    return data


_PART_TYPES = (TextPart, ImagePart, AudioPart, DocumentPart)
_NOT_PARTS = (Mapping, bytes, bytearray, set, frozenset)


def _parts(value: Iterable[Part | str], field: str) -> tuple[Part, ...]:
    if isinstance(value, tuple) and all(type(p) in _PART_TYPES for p in value):
        return value  # already parts: the common case, nothing to convert
    parts: list[Part] = []
    for i, item in enumerate(items_of(field, value, "content parts")):
        if isinstance(item, str):
            parts.append(TextPart(item))
        elif isinstance(item, _PART_TYPES):
            parts.append(item)
        else:
            fail(
                f"{field}[{i}]",
                f"expected a str, TextPart, ImagePart, AudioPart or DocumentPart, got "
                f"{describe(item)}",
            )
    return tuple(parts)


def _to_parts(value: Iterable[Part | str]) -> tuple[Part, ...]:
    return _parts(value, "parts")


@attrs_repr
@attrs.frozen(repr=False)
class Content:
    """Ordered parts of one message. Build it with the named constructors below."""

    parts: tuple[Part, ...] = attrs.field(default=(), converter=_to_parts)

    # --- the named constructors --------------------------------------------------------------
    @classmethod
    def from_text(cls, text: str) -> Content:
        """Plain text content."""
        return cls((TextPart(text),))

    @classmethod
    def from_parts(cls, parts: Iterable[Part | str]) -> Content:
        """Content from parts; plain strings become text parts."""
        return cls(parts)

    @classmethod
    def from_image_file(cls, path: str | os.PathLike[str], *, detail: str | None = None) -> Content:
        """An image read from disk, its MIME type sniffed from the bytes."""
        data = _read_file(path)
        return cls.from_image_bytes(data, name=os.path.basename(os.fspath(path)), detail=detail)

    @classmethod
    def from_image_bytes(
        cls, data: bytes, *, name: str | None = None, detail: str | None = None
    ) -> Content:
        """An image from raw bytes; raises ``ConfigurationError`` if they are not an image."""
        mime = sniff_mime(data)
        if mime is None or not mime.startswith("image/"):
            raise ConfigurationError(
                f"bytes of {name or 'image'} are not a recognised image (PNG, JPEG, GIF, WebP, "
                f"BMP, HEIC); sniffed {mime or 'nothing'}"
            )
        return cls((ImagePart(data=_b64(data), mime_type=mime, name=name, detail=detail),))

    @classmethod
    def from_image_base64(cls, data: str, mime_type: str, *, detail: str | None = None) -> Content:
        """An image already encoded as base64."""
        return cls((ImagePart(data=_check_b64(data), mime_type=mime_type, detail=detail),))

    @classmethod
    def new_image(
        cls,
        url: str | None = None,
        mime: str | None = None,
        name: str | None = None,
        *,
        detail: str | None = None,
    ) -> Content:
        """An image by URL, with an optional MIME type, name and ``detail`` level.

        A ``data:`` URL is split into its MIME type and base64 data; raises
        :class:`ConfigurationError` without a URL or for a data URL that is not base64.
        """
        if url is None:
            raise ConfigurationError("Content.new_image needs a url")
        if url.startswith("data:"):
            header, _, payload = url.partition(",")
            if ";base64" not in header:
                raise ConfigurationError("only base64 data: URLs are supported for images")
            mime = header[5:].split(";")[0] or mime
            return cls(
                (ImagePart(data=_check_b64(payload), mime_type=mime, name=name, detail=detail),)
            )
        return cls((ImagePart(url=url, mime_type=mime, name=name, detail=detail),))

    @classmethod
    def from_audio_file(cls, path: str | os.PathLike[str]) -> Content:
        """Audio read from disk, its format sniffed from the bytes."""
        return cls.from_audio_bytes(_read_file(path))

    @classmethod
    def from_audio_bytes(cls, data: bytes) -> Content:
        """Audio from raw bytes (WAV, MP3, FLAC, OGG, WebM, M4A)."""
        mime = sniff_mime(data)
        if mime is None or not mime.startswith("audio/"):
            raise ConfigurationError(
                f"bytes are not recognised audio (WAV, MP3, FLAC, OGG); sniffed {mime or 'nothing'}"
            )
        return cls((AudioPart(data=_b64(data), mime_type=mime, format=_AUDIO_FORMATS.get(mime)),))

    @classmethod
    def from_audio_base64(cls, data: str, format: str) -> Content:
        """Audio already encoded as base64, with its short format name (``wav``, ``mp3``)."""
        mime = next((m for m, f in _AUDIO_FORMATS.items() if f == format), None)
        return cls((AudioPart(data=_check_b64(data), mime_type=mime, format=format),))

    @classmethod
    def new_audio(cls, url: str | None = None, mime: str | None = None) -> Content:
        """Audio by URL, with an optional MIME type (which also sets the audio format)."""
        if url is None:
            raise ConfigurationError("Content.new_audio needs a url")
        return cls((AudioPart(url=url, mime_type=mime, format=_AUDIO_FORMATS.get(mime or "")),))

    @classmethod
    def from_document_file(cls, path: str | os.PathLike[str]) -> Content:
        """A document (PDF or text) read from disk."""
        data = _read_file(path)
        mime = sniff_mime(data) or "text/plain"
        name = os.path.basename(os.fspath(path))
        return cls((DocumentPart(data=_b64(data), mime_type=mime, name=name),))

    # --- reading -----------------------------------------------------------------------------
    def as_text(self) -> str:
        """All text parts joined with ``""`` (media parts are skipped)."""
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))

    def is_text(self) -> bool:
        """True when every part is text (so the content can go on the wire as a plain string)."""
        return all(isinstance(p, TextPart) for p in self.parts)

    def has_media(self) -> bool:
        """True when any part is an image, audio or document."""
        return not self.is_text()

    def images(self) -> tuple[ImagePart, ...]:
        """The image parts."""
        return tuple(p for p in self.parts if isinstance(p, ImagePart))

    def __add__(self, other: Content | str) -> Content:
        if isinstance(other, str):
            other = Content.from_text(other)
        if not isinstance(other, Content):
            return NotImplemented
        return Content(self.parts + other.parts)

    def __bool__(self) -> bool:
        return any(not isinstance(p, TextPart) or p.text for p in self.parts)

    def __str__(self) -> str:
        return self.as_text()


def to_content(
    value: Content | str | Iterable[Part | str] | None, *, field: str = "content"
) -> Content:
    """Normalise what users pass as ``content=`` into :class:`Content`.

    ``None`` is empty content; a string, a :class:`Content`, one part or a list of parts (and
    strings) are taken as they are. Anything else, a dict included (it is never read as parts),
    raises :class:`~llmcore.InvalidInputError` naming ``field``.
    """
    if value is None:
        return Content()
    if isinstance(value, Content):
        return value
    if isinstance(value, str):
        return Content.from_text(value)
    if isinstance(value, _PART_TYPES):
        return Content((value,))
    if isinstance(value, list | tuple) or (
        hasattr(value, "__iter__") and not isinstance(value, _NOT_PARTS)
    ):
        return Content(_parts(value, field))
    fail(
        field,
        f"expected a str, a Content, a content part or a list of them, got {describe(value)}",
    )
