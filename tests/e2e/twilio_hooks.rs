//! Twilio webhooks as Twilio sends them: form posts signed with the
//! account's auth token (`X-Twilio-Signature`).

use crate::harness::Herald;

/// Posts `params` to `url` signed as Twilio would; answers the status.
pub async fn post_signed(
    herald: &Herald,
    sim: &herald_sim::Simulator,
    url: &str,
    params: &[(String, String)],
) -> u16 {
    let signature = herald_sim::twilio_signature(&sim.config().twilio_auth_token, url, params);
    herald
        .http
        .post(url)
        .header("X-Twilio-Signature", signature)
        .form(params)
        .send()
        .await
        .expect("webhook request")
        .status()
        .as_u16()
}

/// Posts a signed Twilio inbound message (`From` -> the channel's sender)
/// to the channel's webhook, as Twilio would, and answers the status.
pub async fn twilio_inbound(
    herald: &Herald,
    sim: &herald_sim::Simulator,
    channel: i64,
    sid: &str,
    from: &str,
    body: &str,
) -> u16 {
    let url = format!("{}/webhooks/{channel}", herald.base);
    let params: Vec<(String, String)> = [
        ("AccountSid", sim.config().twilio_account_sid.as_str()),
        ("MessageSid", sid),
        ("From", from),
        ("To", "+15005550006"),
        ("Body", body),
        ("NumMedia", "0"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    post_signed(herald, sim, &url, &params).await
}

/// A Twilio status callback for `sid` (sent to `to`), signed, to the
/// channel's webhook; answers the status.
pub async fn status_callback(
    herald: &Herald,
    sim: &herald_sim::Simulator,
    channel: i64,
    sid: &str,
    to: &str,
    status: &str,
    error_code: Option<&str>,
) -> u16 {
    let url = format!("{}/webhooks/{channel}", herald.base);
    let mut params: Vec<(String, String)> = [
        ("SmsSid", sid),
        ("SmsStatus", status),
        ("MessageStatus", status),
        ("To", to),
        ("MessageSid", sid),
        ("AccountSid", sim.config().twilio_account_sid.as_str()),
        ("From", "+15005550006"),
        ("ApiVersion", "2010-04-01"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    if let Some(code) = error_code {
        params.push(("ErrorCode".into(), code.into()));
    }
    post_signed(herald, sim, &url, &params).await
}
