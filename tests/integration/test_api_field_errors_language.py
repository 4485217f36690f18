"""The field errors of an API answer (`errors`) are in the reader's language, as its `detail` is: marshmallow's
own messages had stayed English beside a translated detail. Their shape (the field names) is the same in
every language, for scripts that read it."""

from __future__ import annotations

import pytest

from app.api.tokens import create_token
from app.extensions import db

BODY = {
    "title_fr": 7,  # not a text
    "renewal_terms": "often",  # not one of the choices
    "renewal_months": 0,  # out of range
    "title_en": "x" * 501,  # too long
    "parties": [{}],  # a party without its organisation
    "colour": "blue",  # no such field
}  # and no type: required
SAID = {
    "fr": {
        "type": "Donnée manquante pour un champ obligatoire.",
        "title_fr": "Texte non valide.",
        "renewal_terms": "Doit être l’un de\u00a0: none, tacit, by_agreement.",
        "renewal_months": "Doit être supérieur ou égal à 1 et inférieur ou égal à 120.",
        "title_en": "Longueur de 500 au plus.",
        "colour": "Champ inconnu.",
    },
    "ar": {
        "type": "بيانات ناقصة لحقل إلزامي.",
        "title_fr": "ليس نصًا صالحًا.",
        "renewal_terms": "يجب أن تكون إحدى القيم: none, tacit, by_agreement.",
        "colour": "حقل غير معروف.",
    },
}


def _refused(client, world, language: str):
    officer = world.users["officer"]
    officer.language = language  # a token's call is answered in its person's language
    token = create_token(officer, f"probe-{language}", by=officer)[1]
    db.session.commit()
    response = client.post("/api/v1/agreements", json=BODY, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 422, response.get_json()
    return response.get_json()


@pytest.mark.parametrize("language", ["fr", "ar"])
def test_field_errors_follow_the_readers_language_and_keep_their_shape(client, world, language):
    english = _refused(client, world, "en")
    said = _refused(client, world, language)
    assert sorted(said["errors"]) == sorted(english["errors"])
    assert english["errors"]["type"] == ["Missing data for required field."]
    for field, message in SAID[language].items():
        assert said["errors"][field] == [message], (field, said["errors"][field])
    assert said["errors"]["parties.0.organization_id"] == [SAID[language]["type"]]


def test_a_body_that_is_no_json_is_said_in_the_readers_language(client, world):
    officer = world.users["officer"]
    officer.language = "fr"
    token = create_token(officer, "probe-json", by=officer)[1]
    db.session.commit()
    response = client.post(
        "/api/v1/agreements", data="{", content_type="application/json", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 400
    assert response.get_json()["errors"] == {"_schema": ["Corps JSON illisible."]}
