"""Vonage's legacy SMS API on the wire, free of any WIT type so it runs
(and is unit-tested) under a plain CPython: the send request, what each
answer means, the signature of signed webhooks, and delivery receipts.

Everything here returns plain values; `vonage_sms.py` turns them into the
contract's types. Sources, as read when this was written:
- the SMS API's OpenAPI description (Nexmo/api-specification,
  definitions/sms.yml): `POST /sms/json` with `api_key`, `api_secret`,
  `from`, `to`, `text`, `type`, `client-ref`, `callback`; the answer
  `{"message-count", "messages": [{"to", "message-id", "status", ...}]}`;
  the send status codes (its `x-errors`); the delivery receipt's fields;
- "DLR error codes" (Vonage's SMS delivery error codes article): `err-code`.
"""

import hashlib
import hmac
import json
from urllib.parse import parse_qsl, urlencode, urlsplit

DEFAULT_BASE_URL = "https://rest.nexmo.com"
SEND_PATH = "/sms/json"
# Vonage keeps a client reference of up to 40 characters.
MAX_CLIENT_REF = 40
# A signed webhook older (or newer) than this is refused as a replay, as
# the Mailgun plugin does with its timestamps.
MAX_AGE_MS = 15 * 60 * 1000
# Throttling answers carry no Retry-After: Vonage's limit is per second.
THROTTLED_RETRY_MS = 1000

# How Herald should treat a refusal; `vonage_sms.py` makes the WIT case.
INVALID_RECIPIENT = "invalid-recipient"
REJECTED = "rejected"
RATE_LIMITED = "rate-limited"
TRANSIENT = "transient"
AUTH = "auth"
INSUFFICIENT_FUNDS = "insufficient-funds"
INVALID_CONFIG = "invalid-config"

# The send answer's `status`, other than "0" (accepted), by meaning. The
# categories mirror the Twilio plugin's (twilio-wire `classify_error`):
# a bad number is the recipient's, credentials are auth, an account
# suspended for its balance is funds, throttling is a rate limit, the
# platform's own error is transient.
SEND_STATUS = {
    "1": (RATE_LIMITED, "Throttled"),
    "2": (REJECTED, "Missing Parameters"),
    "3": (REJECTED, "Invalid Parameters"),
    "4": (AUTH, "Invalid Credentials"),
    "5": (TRANSIENT, "Internal Error"),
    "6": (INVALID_RECIPIENT, "Invalid Message"),
    "7": (INVALID_RECIPIENT, "Number Barred"),
    # Twilio's "account not active" (20005) is funds too.
    "8": (INSUFFICIENT_FUNDS, "Partner Account Barred"),
    "9": (INSUFFICIENT_FUNDS, "Partner Quota Violation"),
    "10": (RATE_LIMITED, "Too Many Existing Binds"),
    "11": (INVALID_CONFIG, "Account Not Enabled For HTTP"),
    "12": (REJECTED, "Message Too Long"),
    "14": (AUTH, "Invalid Signature"),
    # The channel's sender: every message would fail the same way.
    "15": (INVALID_CONFIG, "Invalid Sender Address"),
    "22": (REJECTED, "Invalid Network Code"),
    "23": (INVALID_CONFIG, "Invalid Callback Url"),
    "29": (REJECTED, "Non-Whitelisted Destination"),
    "32": (INVALID_CONFIG, "Signature And API Secret Disallowed"),
    "33": (INVALID_RECIPIENT, "Number De-activated"),
}

# A receipt's `err-code`, in Vonage's words, so a member's error reads
# "2: Absent Subscriber - Temporary" (the receipt carries the code alone).
DLR_ERRORS = {
    "1": "Unknown",
    "2": "Absent Subscriber - Temporary",
    "3": "Absent Subscriber - Permanent",
    "4": "Call Barred by User",
    "5": "Portability Error",
    "6": "Anti-Spam Rejection",
    "7": "Handset Busy",
    "8": "Network Error",
    "9": "Illegal Number",
    "10": "Illegal Message",
    "11": "Unroutable",
    "12": "Destination Unreachable",
    "13": "Subscriber Age Restriction",
    "14": "Number Blocked by Carrier",
    "15": "Pre-Paid - Insufficient funds",
    "99": "General Error",
}

# A receipt's `status`, normalised to the contract's delivery statuses.
# "accepted" and "buffered" are intermediate: the carrier has the message.
DELIVERED, SENT, FAILED = "delivered", "sent", "failed"
DLR_STATUS = {
    "delivered": DELIVERED,
    "accepted": SENT,
    "buffered": SENT,
    "expired": FAILED,
    "failed": FAILED,
    "rejected": FAILED,
}

# GSM 03.38's default alphabet and its extension table: a text made only
# of these goes as `type=text`; anything else needs `type=unicode`, or
# Vonage replaces the characters it cannot encode.
GSM_CHARACTERS = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
    "^{}\\[~]|€\f"
)


class Refusal(Exception):
    """A send the provider (or the plugin) refused, classified."""

    def __init__(self, kind, code, message, retry_after_ms=None):
        super().__init__(f"{code}: {message}")
        self.kind = kind
        self.code = code
        self.message = message
        self.retry_after_ms = retry_after_ms


class Unreadable(Exception):
    """A success answer that cannot be read: the provider may have taken
    the message, and the plugin cannot tell."""


def config_value(config, name):
    """A configuration field's value; blank counts as absent."""
    for key, value in config:
        if key == name and value.strip():
            return value
    return None


def validate_config(config):
    """None when usable, else a message naming the field."""
    if config_value(config, "api-key") is None:
        return "api-key: required"
    base = config_value(config, "base-url")
    if base is not None and not base.startswith(("https://", "http://")):
        return "base-url: must be an http(s) URL"
    method = config_value(config, "signature-method")
    if method is not None and method not in SIGNATURE_METHODS:
        return (
            "signature-method: sha256 or sha1 (Vonage's HMAC methods the host "
            "computes; set the same one in the Vonage dashboard)"
        )
    return None


# The HMAC methods of Vonage's signed webhooks that the host's `hmac`
# import computes (MD5 hash, MD5 HMAC and SHA-512 HMAC it does not).
SIGNATURE_METHODS = ("sha256", "sha1")


def signature_method(config):
    return config_value(config, "signature-method") or "sha256"


def base_url(config):
    return (config_value(config, "base-url") or DEFAULT_BASE_URL).rstrip("/")


def is_gsm(text):
    return all(c in GSM_CHARACTERS for c in text)


def client_ref(idempotency_key):
    """The idempotency key as Vonage's `client-ref` (40 characters at
    most): a longer key is replaced by a digest, still one per key."""
    if len(idempotency_key) <= MAX_CLIENT_REF:
        return idempotency_key
    return "h" + hashlib.sha256(idempotency_key.encode()).hexdigest()[: MAX_CLIENT_REF - 1]


def msisdn(number):
    """Vonage writes numbers in E.164 without the `+`."""
    return number[1:] if number.startswith("+") else number


def e164(number):
    """A Vonage number as Herald writes it (`+` and digits); a sender id
    such as `AcmeInc` stays as it is."""
    if number.isdigit():
        return "+" + number
    return number


def send_form(config, to, sender, text, idempotency_key, callback_url):
    """The form of `POST /sms/json`. `api_secret` is the channel secret's
    placeholder, which the host replaces after the request leaves the
    sandbox: it goes unescaped (the host replaces the literal text), which
    a Vonage secret, letters and digits, does not need."""
    pairs = [
        ("api_key", config_value(config, "api-key") or ""),
        ("from", msisdn(sender)),
        ("to", msisdn(to)),
        ("text", text),
        ("type", "text" if is_gsm(text) else "unicode"),
        ("client-ref", client_ref(idempotency_key)),
        ("callback", callback_url),
    ]
    return "api_secret={{secret.api-secret}}&" + urlencode(pairs)


def refusal_for_status(status, error_text):
    """The refusal for a send answer's non-zero `status`."""
    kind, meaning = SEND_STATUS.get(status, (REJECTED, "Vonage error"))
    # "Invalid to param": the recipient's number, not the request's.
    if status == "3" and "to" in error_text.lower().split():
        kind = INVALID_RECIPIENT
    retry = THROTTLED_RETRY_MS if kind == RATE_LIMITED else None
    return Refusal(kind, status, error_text or meaning, retry)


def refusal_for_http(status, headers):
    """A non-2xx answer (a gateway in front of the API): what its status
    alone says, as the SDK's `answer::by_status` reads it."""
    message = f"Vonage answered HTTP {status}"
    if status in (401, 403):
        return Refusal(AUTH, str(status), message)
    if status == 402:
        return Refusal(INSUFFICIENT_FUNDS, str(status), message)
    if status == 429:
        return Refusal(RATE_LIMITED, str(status), message, retry_after_ms(headers))
    if status >= 500:
        return Refusal(TRANSIENT, str(status), message)
    return Refusal(REJECTED, str(status), message)


def retry_after_ms(headers):
    for name, value in headers:
        if name.lower() == "retry-after" and value.strip().isdigit():
            return int(value.strip()) * 1000
    return THROTTLED_RETRY_MS


def read_send_answer(body):
    """The message id of an accepted send, or raises `Refusal` (Vonage
    refused it) or `Unreadable`. A text too long for one SMS goes as
    several parts, each with its own id and receipt: the first part's id
    stands for the message (its receipt is the one Herald applies)."""
    try:
        answer = json.loads(body)
        first = answer["messages"][0]
        status = str(first["status"])
    except (ValueError, KeyError, IndexError, TypeError) as e:
        raise Unreadable(f"unreadable Vonage answer: {e!r}") from None
    if status != "0":
        raise refusal_for_status(status, str(first.get("error-text", "")))
    message_id = first.get("message-id")
    if not isinstance(message_id, str) or not message_id:
        raise Unreadable("unreadable Vonage answer: no message-id")
    return message_id


def webhook_params(method, url, headers, body):
    """A webhook's parameters as Vonage sent them: the query string of a
    GET, or a POST's form or JSON body (the dashboard's "GET", "POST" and
    "POST-JSON"). Raises ValueError when they cannot be read."""
    if method.upper() == "GET":
        return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    content_type = ""
    for name, value in headers:
        if name.lower() == "content-type":
            content_type = value.lower()
    if "json" in content_type:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("the JSON body is not an object")
        # Vonage sends every value as a string; anything else is signed
        # as its JSON text.
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}
    text = body.decode("utf-8")
    return dict(parse_qsl(text, keep_blank_values=True))


def signed_data(params):
    """What Vonage signs: every parameter but `sig`, sorted by name, each
    as `&name=value` with `&` and `=` in the value replaced by `_`.

    Vonage's "Signing Messages" guide (developer.vonage.com, getting-
    started/concepts/signing-messages, "Manually generate a signature")
    and its SDKs' `signature()` (vonage-python-sdk `Client.signature`:
    sorted keys, `value.replace("&", "_").replace("=", "_")`,
    `"&{key}={value}"`). With an HMAC method that string is the HMAC's
    data, keyed with the signature secret, and the signature is its hex
    digest (upper case in Vonage's webhooks, compared case-blind)."""
    parts = []
    for name in sorted(params):
        if name == "sig":
            continue
        value = params[name].replace("&", "_").replace("=", "_")
        parts.append(f"&{name}={value}")
    return "".join(parts).encode("utf-8")


def signature_matches(expected_mac, given_sig):
    """Constant-time comparison of the hex of `expected_mac` (bytes the
    host computed) with the webhook's `sig`, whatever its case."""
    return hmac.compare_digest(expected_mac.hex(), given_sig.strip().lower())


def is_fresh(params, now_ms):
    """Whether the signed `timestamp` (Unix seconds) is within MAX_AGE_MS
    of the host's clock: a valid signature replayed later is refused."""
    stamp = params.get("timestamp", "")
    if not stamp.isdigit():
        return False
    return abs(int(stamp) * 1000 - now_ms) <= MAX_AGE_MS


def describe_dlr_error(code):
    meaning = DLR_ERRORS.get(code)
    return f"{code}: {meaning}" if meaning else f"Vonage error {code}"


def read_receipt(params):
    """A delivery receipt's (message id, status, error code, error text),
    or None when it reports nothing to apply (an `unknown` status without
    an error). Raises ValueError for what is not a receipt."""
    message_id = params.get("messageId")
    if not message_id:
        raise ValueError("no messageId")
    raw = params.get("status", "")
    err_code = params.get("err-code", "0") or "0"
    if raw == "unknown":
        # "Message is in invalid state": a non-zero code says it failed.
        if err_code == "0":
            return None
        status = FAILED
    elif raw in DLR_STATUS:
        status = DLR_STATUS[raw]
    else:
        raise ValueError(f"unknown status {raw!r}")
    if status == FAILED:
        return message_id, status, err_code, describe_dlr_error(err_code)
    return message_id, status, None, None


def is_inbound(params):
    """An inbound message (to one of our numbers) rather than a receipt."""
    return "text" in params and "status" not in params
