"""Text as it arrives: a query string, a form body, a file's name, a JSON body must be UTF-8, or the request is
refused (400) and nothing is done. Werkzeug kept a percent-escape of no UTF-8 character as the text itself
("%E9" saved as a title), read a body of such raw bytes as an empty form, and dropped a whole multipart body
at a file name in another encoding (the answer then blamed a missing message or file)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from flask import Flask, Request, request
from werkzeug.exceptions import BadRequest
from werkzeug.formparser import FormDataParser
from werkzeug.http import parse_options_header
from werkzeug.utils import cached_property

from app.core.i18n import gettext as _


class TextNotUtf8(BadRequest):
    """Text sent that is not UTF-8; `file_name`: the file whose name it was (its bytes of no character shown as
    U+FFFD), None for a value. A 400 as any unreadable body is, so that the API's refusal of a body waits for
    its view's checks as theirs do (api.core.RefusedBody)."""

    def __init__(self, file_name: str | None = None):
        super().__init__()
        self.file_name = file_name

    def explanation(self) -> str:
        """What the reader is told, in their language (at the answer: the request's language is known)."""
        if self.file_name is not None:
            return _(
                "The name of the file “%(name)s” was not valid UTF-8: nothing was saved. "
                "Rename the file, or send its name encoded in UTF-8.",
                name=self.file_name,
            )
        return _("The text sent was not valid UTF-8: nothing was saved. Send it again encoded in UTF-8.")


def utf8(raw: bytes) -> str:
    """`raw` read as UTF-8, or TextNotUtf8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TextNotUtf8() from None


def _pairs(raw: bytes) -> list[tuple[str, str]]:
    """The fields of a query string or a form body; each percent-escape must make UTF-8 with the rest."""
    try:
        return parse_qsl(utf8(raw), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise TextNotUtf8() from None


def _file_name_in(header: bytes) -> str | None:
    """The file name a part's header line gives, its bytes of no character shown as U+FFFD."""
    name, _colon, value = header.decode("utf-8", "replace").partition(":")
    if name.strip().lower() != "content-disposition":
        return None
    return parse_options_header(value)[1].get("filename")


class _Utf8FormDataParser(FormDataParser):
    def _parse_urlencoded(self, stream, mimetype, content_length, options):
        return stream, self.cls(_pairs(stream.read())), self.cls()

    def _parse_multipart(self, stream, mimetype, content_length, options):
        try:
            return super()._parse_multipart(stream, mimetype, content_length, options)
        except UnicodeDecodeError as error:  # a part's header: Werkzeug reads them as UTF-8
            raise TextNotUtf8(_file_name_in(error.object)) from None


class Utf8Request(Request):
    """Every request's form and query string, read as UTF-8 or refused (TextNotUtf8). Once refused, the
    request reads as having no fields, so that drawing the refusal (its page reads the query string for its
    language links) refuses nothing again."""

    form_data_parser_class = _Utf8FormDataParser

    @cached_property
    def args(self):
        try:
            return self.parameter_storage_class(_pairs(self.query_string))
        except TextNotUtf8:
            self.__dict__["args"] = self.parameter_storage_class()
            raise

    def _load_form_data(self) -> None:
        try:
            super()._load_form_data()
        except TextNotUtf8:
            self.__dict__.update(form=self.parameter_storage_class(), files=self.parameter_storage_class())
            raise


def read_as_utf8(app: Flask) -> None:
    """Requests are Utf8Requests; the query string is read before anything else runs, so that its refusal
    is the answer whatever reads it first (an after-request hook or an error page reading it could not refuse)."""
    app.request_class = Utf8Request

    def read_query_string():
        request.args  # noqa: B018 (read for its refusal)

    app.before_request_funcs.setdefault(None, []).insert(0, read_query_string)
