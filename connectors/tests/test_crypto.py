"""WeChat's message encryption against the vectors published with its WXBizMsgCrypt SDKs, and round trips."""

import base64

import pytest

from connectors.wechat import crypto

# WeCom's 加解密方案说明 sample (the same scheme as Official Accounts and Mini Programs).
TOKEN = "QDG6eK"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
CORP_ID = "wx5823bf96d3bd56c7"
MSG_TIMESTAMP, MSG_NONCE = "1409659813", "1372623149"
MSG_SIGNATURE = "477715d11cdb4164915debcba66cb864d751f3e6"
MSG_ENCRYPT = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3"
    "TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5g"
    "sijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQ"
    "Uax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uy"
    "PIGHBZZIs2pDBS8R07+qN+E7Q=="
)
ECHO_TIMESTAMP, ECHO_NONCE = "1409659589", "263014780"
ECHO_SIGNATURE = "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"
ECHO_ENCRYPT = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="

# The Official Account SDK's Sample.py.
OA_TOKEN, OA_KEY, OA_APPID = "spamtest", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx2c2769f8efd9abc2"
OA_TIMESTAMP, OA_NONCE, OA_SIGNATURE = "1409735669", "1320562132", "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
OA_ENCRYPT = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrX"
    "pbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzj"
    "lpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1"
    "BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
)


def test_official_message_vector():
    assert crypto.signature(TOKEN, MSG_TIMESTAMP, MSG_NONCE, MSG_ENCRYPT) == MSG_SIGNATURE
    assert crypto.check_signature(MSG_SIGNATURE, TOKEN, MSG_TIMESTAMP, MSG_NONCE, MSG_ENCRYPT)
    plain = crypto.MessageCrypto(AES_KEY, CORP_ID).decrypt(MSG_ENCRYPT)
    assert "<FromUserName><![CDATA[mycreate]]></FromUserName>" in plain
    assert "<Content><![CDATA[hello]]></Content>" in plain
    assert "<MsgId>4561255354251345929</MsgId>" in plain


def test_official_echostr_vector():
    assert crypto.check_signature(ECHO_SIGNATURE, TOKEN, ECHO_TIMESTAMP, ECHO_NONCE, ECHO_ENCRYPT)
    assert crypto.MessageCrypto(AES_KEY, CORP_ID).decrypt(ECHO_ENCRYPT) == "1616140317555161061"


def test_official_account_sdk_vector():
    assert crypto.check_signature(OA_SIGNATURE, OA_TOKEN, OA_TIMESTAMP, OA_NONCE, OA_ENCRYPT)
    plain = crypto.MessageCrypto(OA_KEY, OA_APPID).decrypt(OA_ENCRYPT)
    assert "<Content><![CDATA[abcdteT]]></Content>" in plain and "<MsgId>6054768590064713728</MsgId>" in plain


def test_signature_is_order_independent_and_refuses_others():
    good = crypto.signature(TOKEN, "1409659589", "263014780")
    assert crypto.signature("263014780", TOKEN, "1409659589") == good
    assert crypto.check_signature(good.upper(), TOKEN, "1409659589", "263014780")
    assert not crypto.check_signature(good, TOKEN, "1409659589", "263014781")
    assert not crypto.check_signature("", TOKEN, "1409659589", "263014780")
    assert not crypto.check_signature(None, TOKEN, "1409659589", "263014780")


@pytest.mark.parametrize("text", ["", "a", "你好，世界" * 50, "x" * 31, "x" * 32, "<xml><Content><![CDATA[hi]]></Content></xml>"])
def test_round_trip(text):
    box = crypto.MessageCrypto(AES_KEY, CORP_ID)
    encrypted = box.encrypt(text)
    assert len(base64.b64decode(encrypted)) % 32 == 0  # PKCS#7 to 32-byte blocks
    assert box.decrypt(encrypted) == text
    assert box.encrypt(text) != encrypted  # a fresh random prefix every time


def test_deterministic_with_a_given_prefix():
    box = crypto.MessageCrypto(AES_KEY, CORP_ID)
    assert box.encrypt("hello", random_prefix=b"a" * 16) == box.encrypt("hello", random_prefix=b"a" * 16)


def test_decrypt_checks_the_appid():
    encrypted = crypto.MessageCrypto(AES_KEY, "wx_other_app_id").encrypt("hello")
    with pytest.raises(crypto.CryptoError):
        crypto.MessageCrypto(AES_KEY, CORP_ID).decrypt(encrypted)


@pytest.mark.parametrize("bad", ["not base64!!", "", "AAAA", base64.b64encode(b"x" * 32).decode(), MSG_ENCRYPT[:-8] + "AAAAAAA="])
def test_decrypt_refuses_garbage(bad):
    with pytest.raises(crypto.CryptoError):
        crypto.MessageCrypto(AES_KEY, CORP_ID).decrypt(bad)


@pytest.mark.parametrize("key", ["", "short", AES_KEY + "A", "!" * 43])
def test_bad_key(key):
    with pytest.raises(crypto.CryptoError):
        crypto.MessageCrypto(key, CORP_ID)
