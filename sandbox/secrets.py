"""Secret material at rest: Fernet (AES-128-CBC + HMAC) with a key from env or config.

Without a key the tool refuses to store or read secrets; the demo generates one locally.
Rotation: `sandbox admin rotate-key` re-encrypts every row with a new key (MultiFernet).
"""

from __future__ import annotations

import os
from pathlib import Path

from sandbox.config import Settings
from sandbox.errors import SecretKeyError

KEY_ENV = "SANDBOX_SECRET_KEY"


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


def generate_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


class Vault:
    """Encrypts and decrypts credential values; never logs or echoes them."""

    def __init__(self, key: str | None):
        self._key = key
        self._fernet = None

    def _cipher(self):
        if self._fernet is None:
            if not self._key:
                raise SecretKeyError(
                    f"no encryption key for secrets: set {KEY_ENV} or [secrets] key / key_file "
                    "(make one with: sandbox admin generate-key)"
                )
            from cryptography.fernet import Fernet

            try:
                self._fernet = Fernet(self._key.encode())
            except (ValueError, TypeError):
                raise SecretKeyError(
                    "the secrets key is not a valid Fernet key (32 url-safe base64 bytes); "
                    "make one with: sandbox admin generate-key"
                ) from None
        return self._fernet

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
