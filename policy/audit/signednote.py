"""C2SP signed notes (Ed25519) and the tlog-checkpoint body they carry.

A note is its text (ending in a newline), a blank line, then signature lines
"— <name> <base64(key hash || signature)>". The Ed25519 key hash is the first four
bytes of SHA-256(name || 0x0A || 0x01 || public key) (c2sp.org/signed-note); the
verifier key ("vkey") is "<name>+<hex key hash>+<base64(0x01 || public key)>".
A checkpoint (c2sp.org/tlog-checkpoint) is the text "<origin>\\n<size>\\n<base64 root>\\n"
followed by optional extension lines.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from core.errors import PantauError

ALG_ED25519 = 0x01
SIG_PREFIX = "\u2014 "  # em dash and a space


class NoteError(PantauError):
    """A note, verifier key or checkpoint that is malformed or does not verify."""

    kind = "note-invalid"


def _check_name(name: str) -> None:
    if not name or any(c.isspace() for c in name) or "+" in name:
        raise NoteError(f"key name {name!r} must be non-empty, without spaces or '+'")


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_hash(name: str, public_key: Ed25519PublicKey) -> bytes:
    """The 4-byte key ID of an Ed25519 note key."""
    data = name.encode() + b"\n" + bytes([ALG_ED25519]) + _raw_public(public_key)
    return hashlib.sha256(data).digest()[:4]


class NoteVerifier:
    """Checks signatures of one named Ed25519 key."""

    def __init__(self, name: str, public_key: Ed25519PublicKey) -> None:
        _check_name(name)
        self.name = name
        self.public_key = public_key
        self.key_hash = key_hash(name, public_key)

    def vkey(self) -> str:
        """The verifier key in signed-note text form."""
        encoded = base64.b64encode(bytes([ALG_ED25519]) + _raw_public(self.public_key)).decode()
        return f"{self.name}+{self.key_hash.hex()}+{encoded}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            self.public_key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    @classmethod
    def from_vkey(cls, vkey: str) -> NoteVerifier:
        """Parse "<name>+<hash>+<base64 key>" and check the hash matches."""
        parts = vkey.strip().split("+", 2)  # base64 may itself hold "+"
        if len(parts) != 3:
            raise NoteError("verifier key must be <name>+<hash>+<key>")
        name, hash_hex, key_b64 = parts
        try:
            raw = base64.b64decode(key_b64, validate=True)
            claimed = bytes.fromhex(hash_hex)
        except (binascii.Error, ValueError) as exc:
            raise NoteError("verifier key is not valid base64/hex") from exc
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise NoteError("verifier key is not an Ed25519 key")
        verifier = cls(name, Ed25519PublicKey.from_public_bytes(raw[1:]))
        if verifier.key_hash != claimed:
            raise NoteError("verifier key hash does not match its key")
        return verifier


class NoteSigner(NoteVerifier):
    """Signs notes with one named Ed25519 private key."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        super().__init__(name, private_key.public_key())
        self._private_key = private_key

    def sign(self, text: str) -> str:
        """A signed note: text, blank line, one signature line."""
        if not text.endswith("\n"):
            raise NoteError("note text must end with a newline")
        sig = self._private_key.sign(text.encode())
        line = SIG_PREFIX + self.name + " " + base64.b64encode(self.key_hash + sig).decode()
        return text + "\n" + line + "\n"


def open_note(note: str, verifier: NoteVerifier) -> str:
    """The text of a note that carries a valid signature by `verifier`; NoteError otherwise."""
    text, sep, sigs = note.rpartition("\n\n")
    if not sep or not sigs.endswith("\n"):
        raise NoteError("malformed note: no signature block")
    if any(c != "\n" and not c.isprintable() for c in note):
        # C2SP signed-note: text is printable; a control character could rewrite what a terminal shows.
        raise NoteError("malformed note: a control character in its text")
    text += "\n"
    found = False
    for line in sigs[:-1].split("\n"):
        if not line.startswith(SIG_PREFIX):
            raise NoteError("malformed signature line")
        name, space, b64 = line[len(SIG_PREFIX):].partition(" ")
        if not space:
            raise NoteError("malformed signature line")
        try:
            blob = base64.b64decode(b64, validate=True)
        except binascii.Error as exc:
            raise NoteError("signature is not base64") from exc
        if len(blob) < 5:
            raise NoteError("signature too short")
        if name == verifier.name and blob[:4] == verifier.key_hash:
            if not verifier.verify(text.encode(), blob[4:]):
                raise NoteError(f"signature by {name} does not verify")
            found = True
    if not found:
        raise NoteError(f"note has no signature by {verifier.name}+{verifier.key_hash.hex()}")
    return text


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tree head: origin, size and root hash (plus extension lines)."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode(), *self.extensions]
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        if not text.endswith("\n"):
            raise NoteError("checkpoint must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3 or not lines[0]:
            raise NoteError("checkpoint needs origin, size and root lines")
        origin, size_s, root_s, *ext = lines
        if not size_s.isdigit() or (size_s != "0" and size_s.startswith("0")):
            raise NoteError(f"checkpoint size {size_s!r} is not a decimal number")
        try:
            root_hash = base64.b64decode(root_s, validate=True)
        except binascii.Error as exc:
            raise NoteError("checkpoint root is not base64") from exc
        if len(root_hash) != 32:
            raise NoteError("checkpoint root is not 32 bytes")
        if any(not line for line in ext):
            raise NoteError("empty extension line in checkpoint")
        return cls(origin, int(size_s), root_hash, tuple(ext))


def sign_checkpoint(checkpoint: Checkpoint, signer: NoteSigner) -> str:
    """The checkpoint as a signed note."""
    return signer.sign(checkpoint.text())


def open_checkpoint(note: str, verifier: NoteVerifier, origin: str | None = None) -> Checkpoint:
    """Verify a signed checkpoint note and parse it; check its origin when given."""
    checkpoint = Checkpoint.parse(open_note(note, verifier))
    if origin is not None and checkpoint.origin != origin:
        raise NoteError(f"checkpoint origin {checkpoint.origin!r} is not {origin!r}")
    return checkpoint
