"""WeChat's callback signatures and message encryption (消息加解密, the WXBizMsgCrypt scheme shared by
Official Accounts, Mini Programs and WeCom).

Signature: sha1 of the sorted concatenation of token, timestamp, nonce (and, for encrypted
messages, the Encrypt text), hex. Encryption: AES-256-CBC, key = base64(EncodingAESKey + "="),
IV = the key's first 16 bytes, PKCS#7 padded to 32-byte blocks (not AES's 16: the SDK's choice);
plaintext = 16 random bytes + 4-byte big-endian length + message + the AppID / CorpID, which
decrypting checks so a message encrypted for another account is refused."""

import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32  # PKCS#7 block size of the scheme


class CryptoError(Exception):
    """A signature, key, ciphertext or AppID that does not check out (the caller answers 4xx)."""


def signature(*parts):
    return hashlib.sha1("".join(sorted(str(p) for p in parts)).encode()).hexdigest()


def check_signature(given, *parts):
    """Constant time: a byte-by-byte comparison would tell an attacker how much of a guess was right."""
    if not isinstance(given, str) or not given:
        return False
    return hmac.compare_digest(given.lower().encode(), signature(*parts).encode())


def _pad(data):
    n = BLOCK - len(data) % BLOCK
    return data + bytes([n]) * n


def _unpad(data):
    n = data[-1] if data else 0
    if not 1 <= n <= BLOCK or data[-n:] != bytes([n]) * n:
        raise CryptoError("bad padding")
    return data[:-n]


class MessageCrypto:
    def __init__(self, encoding_aes_key, app_id):
        if not isinstance(encoding_aes_key, str) or len(encoding_aes_key) != 43:
            raise CryptoError("EncodingAESKey must be 43 characters")
        try:
            self.key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except (binascii.Error, ValueError):
            raise CryptoError("EncodingAESKey is not base64") from None
        if len(self.key) != 32:
            raise CryptoError("EncodingAESKey must decode to 32 bytes")
        self.app_id = app_id

    def _cipher(self):
        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def encrypt(self, text, random_prefix=None):
        """Base64 ciphertext of `text` (str) for this account. random_prefix: 16 bytes, for tests."""
        prefix = random_prefix if random_prefix is not None else os.urandom(16)
        body = text.encode()
        plain = prefix + struct.pack(">I", len(body)) + body + self.app_id.encode()
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(_pad(plain)) + encryptor.finalize()).decode()

    def decrypt(self, encrypted):
        """The message (str) inside `encrypted`, or CryptoError (bad base64, padding, length or AppID)."""
        try:
            data = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise CryptoError("ciphertext is not base64") from None
        if not data or len(data) % 16:
            raise CryptoError("ciphertext length")
        decryptor = self._cipher().decryptor()
        plain = _unpad(decryptor.update(data) + decryptor.finalize())
        if len(plain) < 20:
            raise CryptoError("plaintext too short")
        (length,) = struct.unpack(">I", plain[16:20])
        if 20 + length > len(plain):
            raise CryptoError("bad length")
        message, receiver = plain[20:20 + length], plain[20 + length:]
        # The AppID check: without it a message encrypted for another account with the same key
        # (a copied EncodingAESKey) would be accepted.
        if not hmac.compare_digest(receiver, self.app_id.encode()):
            raise CryptoError("AppID mismatch")
        try:
            return message.decode()
        except UnicodeDecodeError:
            raise CryptoError("message is not UTF-8") from None


def cdata(text):
    """`text` as XML character data: a "]]>" inside would end the section early, so it is split."""
    return "<![CDATA[" + str(text).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def encrypted_reply(message_crypto, token, reply_xml, timestamp, nonce):
    """A passive reply as WeChat takes it from an encrypted callback (the SDK's EncryptMsg): the reply
    encrypted, signed over (token, timestamp, nonce, Encrypt) like an incoming push."""
    encrypted = message_crypto.encrypt(reply_xml)
    return (f"<xml><Encrypt>{cdata(encrypted)}</Encrypt><MsgSignature>{cdata(signature(token, timestamp, nonce, encrypted))}"
            f"</MsgSignature><TimeStamp>{int(timestamp)}</TimeStamp><Nonce>{cdata(nonce)}</Nonce></xml>")
