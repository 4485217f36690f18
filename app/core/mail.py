"""Talking to the SMTP server, with the standard library's smtplib and email.

Why not Flask-Mail or Flask-Mailman: both send at once from the request, and
the outbox needs the opposite — build a message from a stored row, send it over
one connection reused for a batch, and tell a refused recipient (permanent)
from a server that is down (try again later). smtplib exposes exactly those
errors and needs nothing installed.
"""

from __future__ import annotations

import io
import smtplib
import ssl
from datetime import datetime
from email.generator import BytesGenerator
from email.header import Header
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime, formataddr, getaddresses

import idna

from app.core import clock


class TemporaryMailError(Exception):
    """Worth trying again later (server down, 4xx)."""


class PermanentMailError(Exception):
    """Will never succeed as it is (5xx: unknown mailbox, refused sender)."""


class ConnectionFailed(TemporaryMailError):
    """Could not reach or log in to the server: nothing about any one message."""


# Headers a mail client reads as a machine would: folded past 78 characters they come out as
# RFC 2047 encoded words ("=?utf-8?q?=3Chttp..."), which clients do not decode in a URL list,
# so the unsubscribe link silently disappeared. RFC 5322 allows 998 characters on a line.
# The subject too: an ASCII one past 78 characters was folded before its first word ("Subject:" then the
# whole text on the next line), and read back with a leading space.
UNFOLDED_HEADERS = frozenset({"list-unsubscribe", "list-unsubscribe-post", "subject"})
MAX_LINE = 998


class MailPolicy(EmailPolicy):
    """The default policy, except that UNFOLDED_HEADERS are written on one line as they are."""

    def _on_one_line(self, name: str, value: str) -> str | None:
        line = f"{name}: {value}"
        if name.lower() in UNFOLDED_HEADERS and line.isascii() and len(line) <= MAX_LINE:
            return line + self.linesep
        return None

    def _encoded_subject(self, name: str, value: str) -> str | None:
        """A subject with other than ASCII, as RFC 2047 encoded words that keep their spaces inside them.
        The default folder wrote the space between two words as the folding between two encoded words,
        which RFC 2047 tells clients to drop: one Arabic subject in four reached the reader with two
        words glued together, and French ones with a double space."""
        if name.lower() != "subject" or value.isascii():
            return None
        return f"{name}: {Header(value, 'utf-8', header_name=name).encode(linesep=self.linesep)}{self.linesep}"

    def fold(self, name, value):
        return self._on_one_line(name, value) or self._encoded_subject(name, value) or super().fold(name, value)

    def fold_binary(self, name, value):
        line = self._on_one_line(name, value) or self._encoded_subject(name, value)
        return line.encode("ascii") if line else super().fold_binary(name, value)


MAIL_POLICY = MailPolicy()


def smtp_address(address: str) -> str:
    """`address` as SMTP servers take it: an internationalised domain in its ASCII (IDNA) form, which every
    server accepts (accounts store the Unicode form, auth.models.normalize_email). Without it smtplib refused
    to send to "ana@bücher.example" unless the server spoke SMTPUTF8, and the message was retried until it
    failed. A local part beyond ASCII still needs a server that speaks SMTPUTF8."""
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    try:
        return f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"
    except (idna.IDNAError, UnicodeError):
        return address


# Where a header's text would start an RFC 2047 encoded word: a header given as text is parsed, and an encoded
# word in it decoded ("=?utf-8?b?4oCu...?=" becomes U+202E), so a name typed with one put into a subject what
# the app strips when typed plainly, shown nowhere else. A word joiner between the two marks keeps them text.
_ENCODED_WORD_START = "=?"


def as_written(text: str) -> str:
    """`text` for a header, read by mail clients exactly as written (no encoded word in it is decoded)."""
    return text.replace(_ENCODED_WORD_START, "=\u2060?")


def build_message(
    *,
    sender: str,
    to: str,
    subject: str,
    text: str,
    html: str,
    message_id: str,
    language: str,
    extra_headers: dict[str, str] | None = None,
    timezone: str = "UTC",
    unsubscribe_url: str | None = None,
    one_click: bool = False,
    written_at: datetime | None = None,
) -> EmailMessage:
    message = EmailMessage(policy=MAIL_POLICY)
    message["From"] = sender if "<" in sender else formataddr(("Sharaka", sender))
    message["To"] = smtp_address(to)
    message["Subject"] = as_written(" ".join(subject.split()))
    message["Message-ID"] = message_id
    # When the message was written (queued), with the ministry's real offset (+0100 in Casablanca), not
    # "-0000": RFC 5322's Date is when it was ready to go, and one held by an outage reads as sent when written.
    message["Date"] = format_datetime((written_at or clock.utcnow()).astimezone(clock.zone_named(timezone)))
    # Automatic mail: no out-of-office replies back to us.
    message["Auto-Submitted"] = "auto-generated"
    if unsubscribe_url:
        # Mail clients show "unsubscribe". With `one_click` (RFC 8058) they may POST to it themselves;
        # without (a category one cannot switch off) the link opens a page that says why.
        message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        if one_click:
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    for name, value in (extra_headers or {}).items():
        message[name] = value
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    # After the body: set_content() clears the Content-* headers set before it.
    message["Content-Language"] = language
    return message


def _server_text(text: bytes | str) -> str:
    """A server's answer as text (smtplib gives bytes), on one line."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return " ".join(text.split())


class SMTPConnection:
    """One connection for a batch; `send` raises TemporaryMailError or PermanentMailError."""

    def __init__(self, config):
        self.config = config
        self.client: smtplib.SMTP | None = None

    def open(self) -> None:
        config = self.config
        timeout = config.get("MAIL_TIMEOUT", 30)
        client: smtplib.SMTP
        try:
            if config.get("MAIL_USE_SSL"):
                client = smtplib.SMTP_SSL(
                    config["MAIL_SERVER"], config["MAIL_PORT"], timeout=timeout, context=ssl.create_default_context()
                )
            else:
                client = smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=timeout)
                if config.get("MAIL_USE_TLS"):
                    client.starttls(context=ssl.create_default_context())
            if config.get("MAIL_USERNAME"):
                client.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
        except (OSError, smtplib.SMTPException) as error:
            raise ConnectionFailed(f"{type(error).__name__}: {error}") from error
        self.client = client

    def send(self, message: EmailMessage) -> None:
        if self.client is None:
            self.open()
        assert self.client is not None  # open() sets it or raises
        try:
            self._send(message)
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _text in error.recipients.values()]
            kind = PermanentMailError if codes and all(500 <= code < 600 for code in codes) else TemporaryMailError
            # As the server said it ("550 5.1.1 User unknown"): the inviter reads it on the invitation.
            said = "; ".join(f"{code} {_server_text(text)}" for code, text in error.recipients.values())
            raise kind(f"recipient refused: {said}") from error
        except smtplib.SMTPSenderRefused as error:
            # The envelope sender is the same for every message: its refusal ("530 authentication required",
            # a relay's rotated credentials) says the server's setup is wrong, not this message. Every message
            # of the morning had failed for good, to be sent again one by one.
            raise ConnectionFailed(f"sender refused: {error.smtp_code} {error.smtp_error!r}") from error
        except smtplib.SMTPDataError as error:
            kind = PermanentMailError if 500 <= error.smtp_code < 600 else TemporaryMailError
            raise kind(f"{error.smtp_code} {_server_text(error.smtp_error)}") from error
        except (OSError, smtplib.SMTPException) as error:
            # The connection broke: drop it, the next message opens a new one.
            self.close()
            raise TemporaryMailError(f"{type(error).__name__}: {error}") from error

    def _send(self, message: EmailMessage) -> None:
        """smtplib's send_message, written out without its "From " mangling: with no policy given, its
        generator wrote ">From now on you sign in…" in the plain text (an mbox file's escape, not SMTP's)."""
        assert self.client is not None
        sender = getaddresses([str(message["From"])])[0][1]
        recipients = [address for _name, address in getaddresses([str(value) for value in message.get_all("To", [])])]
        international = any(not address.isascii() for address in (sender, *recipients))
        options: list[str] = []
        policy = message.policy
        if international:
            self.client.ehlo_or_helo_if_needed()
            if not self.client.has_extn("smtputf8"):
                raise smtplib.SMTPNotSupportedError("an address needs SMTPUTF8, which the server does not offer")
            options, policy = ["SMTPUTF8", "BODY=8BITMIME"], policy.clone(utf8=True)  # type: ignore[call-arg]
        with io.BytesIO() as out:
            BytesGenerator(out, mangle_from_=False, policy=policy).flatten(message, linesep="\r\n")
            self.client.sendmail(sender, recipients, out.getvalue(), mail_options=options)

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self.client = None
