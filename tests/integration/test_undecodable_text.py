"""Text that is not UTF-8 at the transport level (a form body or a query string with percent-escapes of no
UTF-8 character, a JSON body of other bytes, a file name in another encoding): refused with a 400 that says
so, in the reader's language, and nothing stored. Werkzeug had kept "%E9" as the text itself, read a JSON body
of such bytes as no JSON, and dropped the whole multipart body at such a file name."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.api.tokens import create_token
from app.discussions.models import DiscussionMessage
from app.extensions import db

NOT_UTF8 = {
    "en": "was not valid UTF-8",
    "fr": "n’était pas de l’UTF-8 valide",
    "ar": "ليس نصًا صالحًا بترميز UTF-8",
}
FILE_NAME_NOT_UTF8 = {
    "en": "The name of the file",
    "fr": "Le nom du fichier",
    "ar": "اسم الملف",
}


@pytest.fixture
def officer_token(world):
    token = create_token(world.users["officer"], "probe", by=world.users["officer"])[1]
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def _messages_of(agreement) -> int:
    db.session.expire_all()
    return db.session.scalar(
        select(func.count()).select_from(DiscussionMessage).where(DiscussionMessage.agreement_id == agreement.id)
    )


@pytest.mark.parametrize("body", ["%E9t%E9", "ok%C3", "%FF", "\xe9t\xe9"], ids=["latin-1", "cut", "ff", "raw"])
def test_a_form_of_text_not_utf8_is_refused_and_nothing_is_stored(signed_in, world, body):
    officer = signed_in("officer")
    agreement = world.agreement_a
    path = f"/agreements/{agreement.id}/threads/shared/messages"
    token = officer.csrf(f"/agreements/{agreement.id}")
    before = _messages_of(agreement)
    raw = f"csrf_token={token}&body=".encode() + body.encode("latin-1")
    response = officer.http.post(path, data=raw, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert NOT_UTF8["en"] in response.get_data(as_text=True)
    assert _messages_of(agreement) == before


@pytest.mark.parametrize("language", ["fr", "ar"])
def test_the_refusal_is_in_the_readers_language(client, language):
    response = client.post(
        "/sign-in",
        data=b"email=%E9t%E9%40example.org&password=x",
        content_type="application/x-www-form-urlencoded",
        headers={"Accept-Language": language},
    )
    assert response.status_code == 400
    assert NOT_UTF8[language] in response.get_data(as_text=True)


def test_a_query_string_not_utf8_is_refused(signed_in):
    response = signed_in("officer").get("/agreements/?q=%E9t%E9")
    assert response.status_code == 400
    assert NOT_UTF8["en"] in response.get_data(as_text=True)
    # An escaped percent sign is a percent sign: no escape of a byte.
    assert signed_in("officer").get("/agreements/?q=100%25E9").status_code == 200


def test_an_api_query_string_not_utf8_is_a_json_400(client, officer_token):
    response = client.get("/api/v1/agreements?q=%E9t%E9", headers={**officer_token, "Accept-Language": "fr"})
    assert response.status_code == 400 and response.is_json
    assert NOT_UTF8["fr"] in response.get_json()["detail"]


def test_a_json_body_not_utf8_is_a_json_400_that_says_so(client, world, officer_token):
    from app.agreements.models import Agreement

    before = db.session.scalar(select(func.count()).select_from(Agreement))
    body = '{"type": "mou", "title_fr": "Accord d’été", "parties": [{"organization_id": %d}]}' % world.partner_a.id
    response = client.post(
        "/api/v1/agreements", data=body.encode("cp1252"), content_type="application/json", headers=officer_token
    )
    assert response.status_code == 400 and response.is_json, response.get_data(as_text=True)
    assert NOT_UTF8["en"] in response.get_json()["detail"]
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Agreement)) == before


def _multipart(fields: dict[str, str], file_name: bytes, content: bytes = b"%PDF-1.4\n%%EOF\n") -> tuple[bytes, str]:
    boundary = "sharakaBoundary7MA4YWxk"
    body = b""
    for name, value in fields.items():
        body += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    body += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="'.encode()
        + file_name
        + b'"\r\nContent-Type: application/pdf\r\n\r\n'
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def test_a_file_name_not_utf8_is_refused_by_the_api_by_name(client, world, officer_token):
    world.users["officer"].language = "ar"  # a token's call is answered in its person's language
    db.session.commit()
    agreement = world.agreement_a
    before = _messages_of(agreement)
    body, content_type = _multipart({"body": "with a file"}, "r\xe9sum\xe9.pdf".encode("latin-1"))
    response = client.post(
        f"/api/v1/agreements/{agreement.id}/threads/internal/messages",
        data=body,
        content_type=content_type,
        headers=officer_token,
    )
    assert response.status_code == 400 and response.is_json, response.get_data(as_text=True)
    detail = response.get_json()["detail"]
    assert FILE_NAME_NOT_UTF8["ar"] in detail and "r\ufffdsum\ufffd.pdf" in detail
    assert _messages_of(agreement) == before


def test_a_file_name_not_utf8_is_refused_on_the_page_by_name(signed_in, world):
    officer = signed_in("officer")
    agreement = world.agreement_a
    before = _messages_of(agreement)
    token = officer.csrf(f"/agreements/{agreement.id}")
    body, content_type = _multipart({"csrf_token": token, "body": "with a file"}, b"r\xe9sum\xe9.pdf")
    response = officer.http.post(
        f"/agreements/{agreement.id}/threads/shared/messages", data=body, content_type=content_type
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert FILE_NAME_NOT_UTF8["en"] in page and "r\ufffdsum\ufffd.pdf" in page
    assert _messages_of(agreement) == before


def test_a_file_named_in_utf8_still_goes_through(signed_in, world):
    officer = signed_in("officer")
    agreement = world.agreement_a
    token = officer.csrf(f"/agreements/{agreement.id}")
    body, content_type = _multipart({"csrf_token": token, "body": "with a file"}, "résumé.pdf".encode())
    response = officer.http.post(
        f"/agreements/{agreement.id}/threads/shared/messages", data=body, content_type=content_type
    )
    assert response.status_code in (302, 303)
