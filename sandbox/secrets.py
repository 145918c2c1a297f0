"""Secret material at rest: Fernet (AES-128-CBC + HMAC) with a key from env or config.

Without a key the tool refuses to store or read secrets; the demo generates one locally.
Rotation: `sandbox admin rotate-key` re-encrypts every row with a new key (MultiFernet).
The key setting may hold several comma-separated keys: the first encrypts, any of them
decrypts, so processes can run with "NEW,OLD" while the rows are being rotated.
"""

from __future__ import annotations

import os
from pathlib import Path

from sandbox.config import Settings
from sandbox.errors import SecretKeyError

KEY_ENV = "SANDBOX_SECRET_KEY"
NEW_KEY_ENV = "SANDBOX_NEW_SECRET_KEY"


def load_key(settings: Settings) -> str | None:
    if os.environ.get(KEY_ENV):
        return os.environ[KEY_ENV].strip()
    if settings.secrets.key:
        return settings.secrets.key.strip()
    if settings.secrets.key_file:
        path = Path(settings.secrets.key_file).expanduser()
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SecretKeyError(f"cannot read secrets.key_file {path}: {exc.strerror}") from None
    return None


def load_new_key(key_file: str | None = None) -> str:
    """The key `rotate-key` moves to: from `key_file`, else env SANDBOX_NEW_SECRET_KEY."""
    if key_file:
        path = Path(key_file).expanduser()
        try:
            key = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not a text file"
            raise SecretKeyError(f"cannot read the new key file {path}: {reason}") from None
        if not key:
            raise SecretKeyError(f"the new key file {path} is empty (make a key with: sandbox admin generate-key)")
        return key
    key = os.environ.get(NEW_KEY_ENV, "").strip()
    if not key:
        raise SecretKeyError(f"no new key: give --new-key-file PATH or set {NEW_KEY_ENV} "
                             "(make one with: sandbox admin generate-key)")
    return key


def _fernets(key: str, what: str) -> list:
    from cryptography.fernet import Fernet

    try:
        return [Fernet(part.strip().encode()) for part in key.split(",") if part.strip()]
    except (ValueError, TypeError):
        raise SecretKeyError(
            f"{what} is not a valid Fernet key (32 url-safe base64 bytes); "
            "make one with: sandbox admin generate-key"
        ) from None


def generate_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


class Vault:
    """Encrypts and decrypts credential values; never logs or echoes them."""

    def __init__(self, key: str | None):
        self._key = key
        self._fernets: list | None = None

    def _keys(self) -> list:
        if self._fernets is None:
            fernets = _fernets(self._key or "", "the secrets key")
            if not fernets:
                raise SecretKeyError(
                    f"no encryption key for secrets: set {KEY_ENV} or [secrets] key / key_file "
                    "(make one with: sandbox admin generate-key)"
                )
            self._fernets = fernets
        return self._fernets

    def _cipher(self):
        from cryptography.fernet import MultiFernet

        return MultiFernet(self._keys())

    def require(self) -> None:
        """Fail before anything is created if secrets could not be stored."""
        self._cipher()

    def encrypt(self, plaintext: str) -> str:
        return self._cipher().encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        from cryptography.fernet import InvalidToken

        try:
            return self._cipher().decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise SecretKeyError(
                "cannot decrypt a stored secret: the key differs from the one it was stored with; "
                f"set {KEY_ENV} to that key"
            ) from None

    def rotator(self, new_key: str):
        """A function re-encrypting one stored value from the current key(s) to `new_key`."""
        from cryptography.fernet import InvalidToken, MultiFernet

        new = _fernets(new_key, "the new key")
        if len(new) != 1:
            raise SecretKeyError("the new key must be one Fernet key (make one with: sandbox admin generate-key)")
        cipher = MultiFernet([*new, *self._keys()])

        def rotate(ciphertext: str) -> str:
            try:
                return cipher.rotate(ciphertext.encode()).decode()
            except InvalidToken:
                raise SecretKeyError(
                    "cannot decrypt a stored secret with the current key, so nothing was rotated; "
                    f"set {KEY_ENV} to the key the secrets were stored with"
                ) from None

        return rotate
