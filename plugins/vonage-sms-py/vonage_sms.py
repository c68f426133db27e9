"""vonage-sms-py: a Herald provider plugin written in Python.

Sends SMS through Vonage's SMS API (`POST https://rest.nexmo.com/sms/json`)
and applies its delivery receipts, verified as "signed webhooks". It is
the proof that the provider contract (`wit/provider.wit`,
`herald:provider@1.2.0`) is language-neutral: the same world the Rust
plugins export, built from Python with componentize-py, loaded by the same
host, under the same sandbox, as any other plugin.

Configuration (a channel's `config` and `secrets`):

| field              | secret | what                                                |
|--------------------|--------|-----------------------------------------------------|
| `api-key`          | no     | the account's API key (`api_key`)                   |
| `api-secret`       | yes    | the API secret, sent as `api_secret`                |
| `signature-secret` | yes    | the signature secret that signs webhooks            |
| `signature-method` | no     | `sha256` (default) or `sha1`, as in the dashboard   |
| `base-url`         | no     | defaults to https://rest.nexmo.com                  |

Secrets never enter the plugin: the form carries the placeholder
`{{secret.api-secret}}`, which the host fills in after the request has
left the sandbox, and webhook signatures are HMACs the host computes with
`signature-secret` (the `hmac` import); the plugin only compares them, in
constant time.

- `send`: `api_key`, `api_secret`, `from`, `to` (E.164 without `+`),
  `text` (`type=unicode` when it has characters outside GSM-7), the
  idempotency key as `client-ref`, the status callback as `callback`.
  Vonage answers 200 with a `status` per message: "0" is a receipt, any
  other code a typed `send-error` (see `vonage_wire.SEND_STATUS`).
- `handle-webhook`: receipts (and inbound messages) arrive as a GET query,
  a POST form or a POST JSON body, as set in the dashboard, with
  `timestamp`, `nonce` and `sig` once signed webhooks are on (ask Vonage
  support, and pick an HMAC method). Unsigned, wrongly signed or stale
  (over 15 minutes) requests are refused as `unauthorized` (the host
  answers 401 and applies nothing); a good one is answered 204.
- `fetch-status` answers `none`: the plugin looks nothing up, the
  receipts carry every status. It exports the base world (no `lookup`),
  so a send whose outcome Herald could not see stays `unknown` for an
  operator rather than being resent; its `client-ref` is the idempotency
  key, to find it in Vonage's records.

Build: `./dev.sh build` installs componentize-py (pinned) into
`target/componentize-py` and runs

    componentize-py -d wit -w provider-plugin componentize vonage_sms \
        -p plugins/vonage-sms-py -o target/wasm32-wasip2/release/vonage_sms_py.wasm

`vonage_wire.py` holds the wire format, free of WIT types; its tests run
with the standard library alone: `python3 -m unittest discover -s
plugins/vonage-sms-py`.
"""

from componentize_py_types import Err

from wit_world import exports
from wit_world.imports import host
from wit_world.imports import types as t
from wit_world.imports import uncertainty

import vonage_wire as wire

NAME = "vonage-sms-py"
VERSION = "1.0.0"
PROVIDER = "Vonage"

STATUS = {
    wire.DELIVERED: t.DeliveryStatus.DELIVERED,
    wire.SENT: t.DeliveryStatus.SENT,
    wire.FAILED: t.DeliveryStatus.FAILED,
}

HMAC_ALGORITHMS = {"sha256": t.HmacAlgorithm.SHA256, "sha1": t.HmacAlgorithm.SHA1}


def field(name, label, description, required, secret):
    return t.ConfigField(name, label, description, required, secret)


def send_error(refusal):
    """The contract's case for a classified refusal."""
    rejection = t.Rejection(refusal.code, refusal.message)
    return {
        wire.INVALID_RECIPIENT: lambda: t.SendError_InvalidRecipient(rejection),
        wire.REJECTED: lambda: t.SendError_Rejected(rejection),
        wire.RATE_LIMITED: lambda: t.SendError_RateLimited(refusal.retry_after_ms),
        wire.TRANSIENT: lambda: t.SendError_Transient(f"{refusal.code}: {refusal.message}"),
        wire.AUTH: lambda: t.SendError_Auth(refusal.message),
        wire.INSUFFICIENT_FUNDS: lambda: t.SendError_InsufficientFunds(refusal.message),
        wire.INVALID_CONFIG: lambda: t.SendError_InvalidConfig(refusal.message),
    }[refusal.kind]()


def transport_error(error):
    """`http-send` got no answer: transient, unless the request itself
    cannot be made (host not allowed, unknown secret)."""
    if isinstance(error, t.HttpError_Timeout):
        return t.SendError_Transient(f"{PROVIDER} did not answer in time")
    if isinstance(error, t.HttpError_Connection):
        return t.SendError_Transient(f"connection to {PROVIDER} failed: {error.value}")
    return t.SendError_InvalidConfig(error.value)


def unauthorized(why):
    return Err(t.WebhookError_Unauthorized(why))


class Provider(exports.Provider):
    def manifest(self):
        return t.PluginManifest(
            NAME,
            VERSION,
            [t.ChannelKind.SMS],
            [
                field("api-key", "API key", "Vonage API key (api_key)", True, False),
                field("api-secret", "API secret", "Vonage API secret (api_secret)", True, True),
                field(
                    "signature-secret",
                    "Signature secret",
                    "Signs delivery receipts: turn on signed webhooks with an HMAC method",
                    True,
                    True,
                ),
                field(
                    "signature-method",
                    "Signature method",
                    "sha256 (default) or sha1: the HMAC method set in the Vonage dashboard",
                    False,
                    False,
                ),
                field(
                    "base-url",
                    "API base URL",
                    "Defaults to https://rest.nexmo.com; point it at a simulator for tests",
                    False,
                    False,
                ),
            ],
            ["rest.nexmo.com"],
        )

    def validate_config(self, config):
        problem = wire.validate_config(config)
        if problem is not None:
            raise Err(problem)

    def send(self, config, message):
        if not isinstance(message.content, t.Content_Text):
            raise Err(t.SendError_InvalidConfig(f"{NAME} sends SMS text content only"))
        text = message.content.value
        if text.media:
            raise Err(t.SendError_InvalidConfig(f"{NAME} cannot send media (MMS)"))
        if wire.config_value(config, "api-key") is None:
            raise Err(t.SendError_InvalidConfig("api-key: required"))
        form = wire.send_form(
            config,
            message.to,
            message.sender,
            text.body,
            message.idempotency_key,
            message.status_callback_url,
        )
        request = t.HttpRequest(
            "POST",
            wire.base_url(config) + wire.SEND_PATH,
            [
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Accept", "application/json"),
                ("User-Agent", f"herald-{NAME}/{VERSION}"),
            ],
            form.encode("utf-8"),
            t.HttpAuth_None_(),
            None,
        )
        try:
            response = host.http_send(request)
        except Err as e:
            raise Err(transport_error(e.value)) from None
        try:
            if not 200 <= response.status < 300:
                raise wire.refusal_for_http(response.status, response.headers)
            message_id = wire.read_send_answer(response.body)
        except wire.Refusal as refusal:
            raise Err(send_error(refusal)) from None
        except wire.Unreadable as e:
            # Vonage answered 2xx: it may have taken the message.
            uncertainty.mark_uncertain(str(e))
            raise Err(t.SendError_Transient(str(e))) from None
        return t.SendReceipt(message_id, t.DeliveryStatus.ACCEPTED)

    def handle_webhook(self, config, request):
        try:
            params = wire.webhook_params(
                request.method, request.url, request.headers, request.body
            )
        except (ValueError, UnicodeDecodeError) as e:
            raise Err(t.WebhookError_BadRequest(f"unreadable webhook: {e}")) from None
        given = params.get("sig")
        if not given:
            raise unauthorized("missing sig: turn on signed webhooks")
        algorithm = HMAC_ALGORITHMS.get(wire.signature_method(config))
        if algorithm is None:
            raise unauthorized("signature-method: not an HMAC method the host computes")
        try:
            mac = host.hmac(algorithm, "signature-secret", wire.signed_data(params))
        except Err as e:
            raise unauthorized(e.value) from None
        if not wire.signature_matches(mac, given):
            raise unauthorized("sig does not match")
        if not wire.is_fresh(params, host.now()):
            raise unauthorized("webhook timestamp missing or too old")
        if wire.is_inbound(params):
            events = [self.inbound(params)]
        else:
            try:
                receipt = wire.read_receipt(params)
            except ValueError as e:
                raise Err(t.WebhookError_BadRequest(f"delivery receipt: {e}")) from None
            events = [] if receipt is None else [self.delivery(receipt)]
        return t.WebhookOutcome(events, t.WebhookResponse(204, [], b""))

    @staticmethod
    def delivery(receipt):
        message_id, status, error_code, error_message = receipt
        # No timestamp: Vonage's `message-timestamp` is when it began
        # pushing the receipt, to the second; Herald's receipt time is
        # as good and never earlier than the send.
        update = t.DeliveryUpdate(message_id, STATUS[status], error_code, error_message, None)
        return t.Event_Delivery(update)

    @staticmethod
    def inbound(params):
        message = t.InboundMessage(
            params.get("messageId", ""),
            wire.e164(params.get("msisdn", "")),
            wire.e164(params.get("to", "")),
            params.get("text", ""),
            [],
        )
        return t.Event_Inbound(message)

    def fetch_status(self, config, provider_message_id):
        return None

    def list_templates(self, config):
        return []
