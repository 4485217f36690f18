"""A SIGNATURE_TRUST_ROOTS file that cannot be read is left out, not fatal, and said in the log once per process."""

import logging

from app.signatures import validate as validation
from tests.support.signed_pdfs import Authority, plain_pdf, sign


def test_a_broken_trust_roots_file_is_logged_once_naming_the_setting_and_the_file(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(validation, "_reported_problems", set())
    ministry_ca = Authority.create("Ministry Test Root")
    signed = tmp_path / "signed.pdf"
    signed.write_bytes(sign(plain_pdf("Convention", "Article 1"), ministry_ca.signer("Amal Benali")))
    broken, missing = tmp_path / "roots.pem", tmp_path / "gone.pem"
    broken.write_text("not a certificate")
    good = ministry_ca.write_pem(tmp_path / "good.pem")
    caplog.set_level(logging.WARNING)
    for _check in range(3):  # three signed copies checked: still one line per problem
        result = validation.validate(signed, trust_root_paths=(str(broken), str(missing), str(good)))
        assert result.status == "valid"  # the readable file's roots still count
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2, warnings
    assert all(message.startswith("SIGNATURE_TRUST_ROOTS: ") for message in warnings)
    assert f"{broken}: ValueError" in warnings[0] and f"{missing}: FileNotFoundError" in warnings[1]


def test_a_trust_roots_file_that_is_not_there_is_said_as_the_app_starts(tmp_path, caplog, monkeypatch):
    """Not at the first signed copy checked, which may come weeks later."""
    from tests.conftest import make_test_app

    monkeypatch.setattr(validation, "_reported_problems", set())
    missing = tmp_path / "ministry-root.pem"
    caplog.set_level(logging.WARNING)
    make_test_app(f"sqlite:///{tmp_path / 'x.sqlite'}", SIGNATURE_TRUST_ROOTS=(str(missing),))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert f"SIGNATURE_TRUST_ROOTS: {missing}: not a file that can be read" in " ".join(warnings)
