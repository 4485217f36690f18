"""A test CA and PDFs signed with pyHanko, made at test time (no key or certificate is checked in)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "MA"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Sharaka tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _certificate(subject, issuer, public_key, issuer_key, *, is_ca: bool, fetch_url: str | None = None):
    now = datetime.now(timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if is_ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
    if fetch_url:  # where a validator may go for the issuer, OCSP and the CRL: any address the maker likes
        from cryptography.x509.oid import AuthorityInformationAccessOID

        location = x509.UniformResourceIdentifier(fetch_url)
        builder = builder.add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS, location),
                    x509.AccessDescription(AuthorityInformationAccessOID.OCSP, location),
                ]
            ),
            critical=False,
        ).add_extension(
            x509.CRLDistributionPoints([x509.DistributionPoint([location], None, None, None)]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


@dataclass
class Authority:
    name: str
    key: object
    certificate: object

    @classmethod
    def create(cls, name: str = "Sharaka Test Root CA") -> Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        return cls(name, key, _certificate(_name(name), _name(name), key.public_key(), key, is_ca=True))

    def write_pem(self, path: Path) -> Path:
        path.write_bytes(_pem(self.certificate))
        return path

    def signer(self, common_name: str, *, fetch_url: str | None = None, embed_issuer: bool = True):
        """A pyHanko signer whose certificate this CA issued (naming `fetch_url` as its issuer's, OCSP and
        CRL address; without `embed_issuer`, the file does not carry the CA's certificate)."""
        from asn1crypto import x509 as asn1_x509
        from pyhanko.keys import load_private_key_from_pemder_data
        from pyhanko.sign import signers
        from pyhanko_certvalidator.registry import SimpleCertificateStore

        key = ec.generate_private_key(ec.SECP256R1())
        certificate = _certificate(
            _name(common_name), _name(self.name), key.public_key(), self.key, is_ca=False, fetch_url=fetch_url
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return signers.SimpleSigner(
            signing_cert=asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER)),
            signing_key=load_private_key_from_pemder_data(key_pem, passphrase=None),
            cert_registry=SimpleCertificateStore.from_certs(
                [asn1_x509.Certificate.load(self.certificate.public_bytes(serialization.Encoding.DER))]
                if embed_issuer
                else []
            ),
        )


def plain_pdf(*lines: str) -> bytes:
    """A one-page PDF with lines of text (Latin-1), written by hand with a correct cross-reference table."""
    lines = lines or ("Convention de partenariat",)
    text = " ".join(
        f"({line.replace(chr(92), chr(92) * 2).replace('(', '[').replace(')', ']')}) Tj 0 -18 Td" for line in lines
    )
    stream = f"BT /F1 12 Tf 72 720 Td {text} ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def sign(pdf: bytes, signer, field_name: str = "Signature1") -> bytes:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    out = signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(pdf)), signers.PdfSignatureMetadata(field_name=field_name), signer=signer
    )
    return out.getvalue()


def modify_after_signing(signed: bytes) -> bytes:
    """An incremental update after the signature that replaces the page's content: not an allowed change."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    page_ref = writer.root["/Pages"]["/Kids"][0]
    page = page_ref.get_object()
    page["/Contents"] = writer.add_object(generic.StreamObject(stream_data=b"BT /F1 14 Tf 72 720 Td (Altered) Tj ET"))
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
