"""The observatory's signing key: an Ed25519 key pair in two PEM files.

``NAME.key`` holds the private key (PKCS#8, unencrypted, file mode 0600: keep it on the
machine that writes reports); ``NAME.pub`` the public key (SubjectPublicKeyInfo), which the
observatory publishes so anyone can check its signed evidence reports. A key is named by its
id: the SHA-256 of its 32 raw public bytes, in hex.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from blockwatch.errors import BlockwatchError

__all__ = [
    "KeyPairPaths",
    "SigningError",
    "is_valid",
    "key_id",
    "load_private_key",
    "load_public_key",
    "new_key_pair",
    "sign",
]

PRIVATE_SUFFIX = ".key"
PUBLIC_SUFFIX = ".pub"


class SigningError(BlockwatchError):
    """A key file cannot be made or read (it exists already, is not an Ed25519 key, ...)."""


@dataclass(frozen=True, slots=True)
class KeyPairPaths:
    private: Path
    public: Path
    key_id: str


def key_id(public: Ed25519PublicKey) -> str:
    """The key's name: SHA-256 of its raw public bytes, hex."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def _create(path: Path, data: bytes, mode: int) -> None:
    """Write a new file with this mode; never replace an existing one."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError as exc:
        raise SigningError(f"{path} exists: refusing to overwrite a key") from exc
    except OSError as exc:
        raise SigningError(f"cannot create {path}: {exc}") from exc
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), mode)  # the umask may only have narrowed it; be exact
        fh.write(data)


def new_key_pair(stem: str | Path) -> KeyPairPaths:
    """Make a key pair as ``STEM.key`` (0600) and ``STEM.pub``; refuse if either exists."""
    stem = Path(stem)
    private_path = stem.with_name(stem.name + PRIVATE_SUFFIX)
    public_path = stem.with_name(stem.name + PUBLIC_SUFFIX)
    for path in (private_path, public_path):
        if path.exists() or path.is_symlink():
            raise SigningError(f"{path} exists: refusing to overwrite a key")
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _create(private_path, private_pem, 0o600)
    try:
        _create(public_path, public_pem, 0o644)
    except SigningError:
        private_path.unlink()  # no half pair left behind
        raise
    return KeyPairPaths(private_path, public_path, key_id(key.public_key()))


def _read(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise SigningError(f"cannot read the {what} {path}: {exc}") from exc


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in a PEM file written by :func:`new_key_pair`."""
    data = _read(Path(path), "private key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningError(f"{path}: not an unencrypted PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"{path}: not an Ed25519 private key")
    return key


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    """The Ed25519 public key in a PEM file (``NAME.pub``)."""
    data = _read(Path(path), "public key")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise SigningError(f"{path}: not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise SigningError(f"{path}: not an Ed25519 public key")
    return key


def sign(key: Ed25519PrivateKey, message: bytes) -> bytes:
    return key.sign(message)


def is_valid(public: Ed25519PublicKey, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is this key's signature of ``message``."""
    try:
        public.verify(signature, message)
    except InvalidSignature:
        return False
    return True
