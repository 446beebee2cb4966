"""Test-time C2PA signing: a home-made CA (root + end-entity certificate, made with `cryptography`)
and c2pa-python's Builder. The root is written as a trust list, so files it signs read Trusted
once that folder is given; without it they read Valid. All offline (no timestamp authority)."""

from __future__ import annotations

import datetime
import io
import json
from dataclasses import dataclass
from pathlib import Path

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"


@dataclass(frozen=True)
class TestCA:
    chain_pem: bytes
    key_pem: bytes
    root_pem: bytes

    def write_trust_dir(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "anchors.pem").write_bytes(self.root_pem)
        return folder


def make_ca(organization: str = "Test Generator Inc.") -> TestCA:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
                          x509.NameAttribute(NameOID.COMMON_NAME, common)])

    root_key = ec.generate_private_key(ec.SECP256R1())
    root = (x509.CertificateBuilder().subject_name(name("Test Root CA")).issuer_name(name("Test Root CA"))
            .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder().subject_name(name("Test Signer")).issuer_name(root.subject)
            .public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return TestCA(
        chain_pem=leaf.public_bytes(pem) + root.public_bytes(pem),
        key_pem=leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        root_pem=root.public_bytes(pem),
    )


def sign_jpeg(source: bytes, ca: TestCA, source_type: str | None, agent: str = "Test Generator 1.0",
              action: str = "c2pa.created", parent: bytes | None = None) -> bytes:
    """`source` (JPEG bytes) with a C2PA manifest: one `action` with `source_type` (an IPTC term);
    with `parent` (a signed JPEG), that file becomes its `parentOf` ingredient (as ChatGPT
    wraps DALL-E's claim)."""
    import c2pa

    entry = {"action": action, "softwareAgent": {"name": agent}}
    if parent is not None:
        entry["parameters"] = {"ingredientIds": ["parent"]}
    if source_type:
        entry["digitalSourceType"] = IPTC + source_type
    manifest = {
        "claim_generator_info": [{"name": agent, "version": "1.0"}],
        "title": "test.jpg", "format": "image/jpeg",
        "assertions": [{"label": "c2pa.actions", "data": {"actions": [entry]}}],
    }
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(b"es256", ca.chain_pem, ca.key_pem, None))
    out = io.BytesIO()
    with c2pa.Builder(json.dumps(manifest)) as builder:
        if parent is not None:
            builder.add_ingredient({"title": "parent.jpg", "relationship": "parentOf", "label": "parent"}, "image/jpeg", io.BytesIO(parent))
        builder.sign(signer, "image/jpeg", io.BytesIO(source), out)
    return out.getvalue()
