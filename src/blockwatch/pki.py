"""Certificate authorities for the lab and the loopback test internet.

One CA = a certificate and key as PEM files in a folder; it issues server certificates for
names (and IP literals). EC P-256 keys: fast to make, fast to handshake. The lab makes two
(the origins' CA, which the vantages trust, and each censor's interception CA, which they
do not); the probe's tests make one.
"""

from __future__ import annotations

import ipaddress
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = timedelta(days=365)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _san(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


class CertificateAuthority:
    """A CA whose certificate and key live as ``STEM.pem`` and ``STEM.key`` in ``folder``."""

    def __init__(
        self, folder: Path, stem: str, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate
    ) -> None:
        self.folder = folder
        self.stem = stem
        self.key = key
        self.cert = cert

    @property
    def cert_file(self) -> Path:
        """The file a client trusts (``--ca-file``)."""
        return self.folder / f"{self.stem}.pem"

    @classmethod
    def create(
        cls, folder: Path, stem: str = "ca", common_name: str = "blockwatch test CA"
    ) -> CertificateAuthority:
        folder.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(_name(common_name))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
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
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        ca = cls(folder, stem, key, cert)
        ca.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (folder / f"{stem}.key").write_bytes(_pem_key(key))
        return ca

    @classmethod
    def load(cls, folder: Path, stem: str = "ca") -> CertificateAuthority:
        """The CA another process created (the lab's agents load the run's CAs)."""
        cert = x509.load_pem_x509_certificate((folder / f"{stem}.pem").read_bytes())
        key = serialization.load_pem_private_key((folder / f"{stem}.key").read_bytes(), None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise TypeError(f"{folder / stem}.key is not an EC private key")
        return cls(folder, stem, key, cert)

    def issue(self, names: list[str], stem: str | None = None) -> tuple[Path, Path]:
        """A server certificate for DNS names / IPs; returns (cert_file, key_file)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(names[0]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.SubjectAlternativeName([_san(n) for n in names]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        stem = stem or names[0].replace("*", "star")
        cert_file = self.folder / f"{stem}.crt"
        key_file = self.folder / f"{stem}.crt.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(_pem_key(key))
        return cert_file, key_file

    def server_context(self, names: list[str], stem: str | None = None) -> ssl.SSLContext:
        cert_file, key_file = self.issue(names, stem)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert_file, key_file)
        return ctx
