"""The Vonage wire format, under a plain CPython:
`python3 -m unittest discover -s plugins/vonage-sms-py`."""

import hashlib
import hmac
import json
import unittest
from urllib.parse import parse_qsl

import vonage_wire as wire

CONFIG = [("api-key", "a1b2c3d4"), ("base-url", "http://127.0.0.1:9/")]


def sign(secret, params, digest=hashlib.sha256):
    """A Vonage-style `sig`, computed here apart from the module."""
    data = "".join(
        f"&{k}={params[k].replace('&', '_').replace('=', '_')}"
        for k in sorted(params)
        if k != "sig"
    )
    return hmac.new(secret.encode(), data.encode(), digest).hexdigest().upper()


class SendRequest(unittest.TestCase):
    def form(self, text="Hi Ana", key="7-1-1"):
        body = wire.send_form(
            CONFIG, "+14155550100", "+15005550006", text, key, "https://h.test/webhooks/3"
        )
        return body, dict(parse_qsl(body))

    def test_the_secret_stays_a_placeholder_the_host_fills_in(self):
        body, form = self.form()
        self.assertTrue(body.startswith("api_secret={{secret.api-secret}}&"))
        self.assertEqual(form["api_secret"], "{{secret.api-secret}}")
        self.assertEqual(form["api_key"], "a1b2c3d4")

    def test_numbers_lose_their_plus_and_the_key_rides_as_client_ref(self):
        _, form = self.form()
        self.assertEqual((form["to"], form["from"]), ("14155550100", "15005550006"))
        self.assertEqual(form["client-ref"], "7-1-1")
        self.assertEqual(form["callback"], "https://h.test/webhooks/3")
        self.assertEqual(form["text"], "Hi Ana")

    def test_text_outside_gsm_goes_as_unicode(self):
        self.assertEqual(self.form("Voilà {ok} €")[1]["type"], "text")
        self.assertEqual(self.form("Привет 🎉")[1]["type"], "unicode")
        self.assertEqual(self.form("a & b = c")[1]["text"], "a & b = c")

    def test_a_long_key_becomes_a_digest_within_vonage_limit(self):
        long_key = "x" * 60
        ref = wire.client_ref(long_key)
        self.assertEqual(len(ref), wire.MAX_CLIENT_REF)
        self.assertEqual(ref, wire.client_ref(long_key))
        self.assertNotEqual(ref, wire.client_ref("y" * 60))

    def test_base_url_and_config_checks(self):
        self.assertEqual(wire.base_url(CONFIG), "http://127.0.0.1:9")
        self.assertEqual(wire.base_url([]), "https://rest.nexmo.com")
        self.assertIsNone(wire.validate_config(CONFIG))
        self.assertEqual(wire.validate_config([("api-key", " ")]), "api-key: required")
        bad = CONFIG + [("signature-method", "md5hash")]
        self.assertTrue(wire.validate_config(bad).startswith("signature-method:"))
        ftp = [("api-key", "k"), ("base-url", "ftp://x")]
        self.assertEqual(wire.validate_config(ftp), "base-url: must be an http(s) URL")


class SendAnswer(unittest.TestCase):
    def answer(self, *messages):
        return json.dumps({"message-count": str(len(messages)), "messages": list(messages)}).encode()

    def refusal(self, status, text=""):
        with self.assertRaises(wire.Refusal) as caught:
            wire.read_send_answer(self.answer({"status": status, "error-text": text}))
        return caught.exception

    def test_status_zero_is_a_receipt_and_the_first_part_stands_for_the_message(self):
        body = self.answer(
            {"to": "14155550100", "message-id": "0A0000000123ABCD1", "status": "0"},
            {"to": "14155550100", "message-id": "0A0000000123ABCD2", "status": "0"},
        )
        self.assertEqual(wire.read_send_answer(body), "0A0000000123ABCD1")

    def test_codes_map_to_the_contract_cases(self):
        cases = {
            "1": wire.RATE_LIMITED,
            "2": wire.REJECTED,
            "4": wire.AUTH,
            "5": wire.TRANSIENT,
            "6": wire.INVALID_RECIPIENT,
            "7": wire.INVALID_RECIPIENT,
            "9": wire.INSUFFICIENT_FUNDS,
            "15": wire.INVALID_CONFIG,
            "33": wire.INVALID_RECIPIENT,
            "99": wire.REJECTED,
        }
        for status, kind in cases.items():
            self.assertEqual(self.refusal(status).kind, kind, status)

    def test_invalid_parameters_are_the_recipient_only_when_to_is_named(self):
        self.assertEqual(self.refusal("3", "Invalid to param").kind, wire.INVALID_RECIPIENT)
        self.assertEqual(self.refusal("3", "Invalid from param").kind, wire.REJECTED)

    def test_refusals_keep_vonage_code_and_words(self):
        throttled = self.refusal("1", "Throughput Rate Exceeded")
        self.assertEqual((throttled.code, throttled.message), ("1", "Throughput Rate Exceeded"))
        self.assertEqual(throttled.retry_after_ms, 1000)
        self.assertEqual(self.refusal("4").message, "Invalid Credentials")

    def test_an_unreadable_success_is_unreadable(self):
        for body in (b"<html>", b"{}", self.answer({"status": "0"})):
            with self.assertRaises(wire.Unreadable):
                wire.read_send_answer(body)

    def test_http_statuses_of_a_gateway(self):
        self.assertEqual(wire.refusal_for_http(401, []).kind, wire.AUTH)
        limited = wire.refusal_for_http(429, [("Retry-After", "3")])
        self.assertEqual((limited.kind, limited.retry_after_ms), (wire.RATE_LIMITED, 3000))
        self.assertEqual(wire.refusal_for_http(503, []).kind, wire.TRANSIENT)
        self.assertEqual(wire.refusal_for_http(400, []).kind, wire.REJECTED)


RECEIPT = {
    "msisdn": "14155550100",
    "to": "15005550006",
    "network-code": "310260",
    "messageId": "0B00000127FDBC63",
    "price": "0.03330000",
    "status": "delivered",
    "scts": "2601141830",
    "err-code": "0",
    "api-key": "a1b2c3d4",
    "client-ref": "7-1-1",
    "message-timestamp": "2026-01-14 18:30:00",
    "timestamp": "1768415400",
    "nonce": "ec11dd3e-1e7f-4db5-9467-82b02cd223b9",
}


class Signatures(unittest.TestCase):
    def test_the_signed_string_matches_vonage_sdk_vector(self):
        # vonage-python-sdk's own test: md5hash of these params and the
        # secret "secret" is 6af838ef94998832dbfc29020b564830; md5hash
        # signs the same string as the HMAC methods, the secret appended.
        params = {"a": "1", "b": "2", "timestamp": "1461605396", "sig": "x"}
        data = wire.signed_data(params) + b"secret"
        self.assertEqual(hashlib.md5(data).hexdigest(), "6af838ef94998832dbfc29020b564830")

    def test_separators_in_values_are_replaced_and_sig_left_out(self):
        data = wire.signed_data({"b": "x&y=z", "a": "1", "sig": "s"})
        self.assertEqual(data, b"&a=1&b=x_y_z")

    def test_a_hex_signature_compares_whatever_its_case(self):
        params = dict(RECEIPT)
        sig = sign("s3cret", params)
        mac = hmac.new(b"s3cret", wire.signed_data(params), hashlib.sha256).digest()
        self.assertTrue(wire.signature_matches(mac, sig))
        self.assertTrue(wire.signature_matches(mac, sig.lower()))
        self.assertFalse(wire.signature_matches(mac, sign("other", params)))
        params["status"] = "failed"
        self.assertFalse(wire.signature_matches(mac, sign("s3cret", params)))

    def test_freshness(self):
        now_ms = 1768415400 * 1000
        self.assertTrue(wire.is_fresh(RECEIPT, now_ms + 60_000))
        self.assertFalse(wire.is_fresh(RECEIPT, now_ms + wire.MAX_AGE_MS + 1000))
        self.assertFalse(wire.is_fresh({}, now_ms))


class Webhooks(unittest.TestCase):
    def test_get_form_and_json_give_the_same_params(self):
        from urllib.parse import urlencode

        query = urlencode(RECEIPT)
        by_get = wire.webhook_params("GET", f"https://h.test/webhooks/3?{query}", [], b"")
        form = [("Content-Type", "application/x-www-form-urlencoded")]
        by_form = wire.webhook_params("POST", "https://h.test/webhooks/3", form, query.encode())
        as_json = [("content-type", "application/json")]
        body = json.dumps(RECEIPT).encode()
        by_json = wire.webhook_params("POST", "https://h.test/webhooks/3", as_json, body)
        self.assertEqual(by_get, RECEIPT)
        self.assertEqual(by_form, RECEIPT)
        self.assertEqual(by_json, RECEIPT)
        with self.assertRaises(ValueError):
            wire.webhook_params("POST", "u", as_json, b"[1]")

    def test_receipt_statuses(self):
        def read(status, err="0"):
            return wire.read_receipt(dict(RECEIPT, status=status, **{"err-code": err}))

        self.assertEqual(read("delivered"), ("0B00000127FDBC63", wire.DELIVERED, None, None))
        self.assertEqual(read("accepted")[1], wire.SENT)
        self.assertEqual(read("buffered")[1], wire.SENT)
        self.assertEqual(
            read("failed", "2"),
            ("0B00000127FDBC63", wire.FAILED, "2", "2: Absent Subscriber - Temporary"),
        )
        self.assertEqual(read("expired", "77")[3], "Vonage error 77")
        self.assertEqual(read("unknown", "6")[1], wire.FAILED)
        self.assertIsNone(read("unknown", "0"))
        with self.assertRaises(ValueError):
            read("bogus")
        with self.assertRaises(ValueError):
            wire.read_receipt({"status": "delivered"})

    def test_inbound_messages_are_told_from_receipts(self):
        inbound = {"msisdn": "14155550100", "to": "15005550006", "text": "STOP", "type": "text"}
        self.assertTrue(wire.is_inbound(inbound))
        self.assertFalse(wire.is_inbound(RECEIPT))
        self.assertEqual(wire.e164("14155550100"), "+14155550100")
        self.assertEqual(wire.e164("AcmeInc"), "AcmeInc")


if __name__ == "__main__":
    unittest.main()
