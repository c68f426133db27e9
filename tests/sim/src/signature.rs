//! Providers' webhook signatures: Twilio's `X-Twilio-Signature` and
//! Vonage's signed webhooks (`sig`).
//!
//! Twilio signs every webhook so the receiver can check it came from Twilio:
//! base64(HMAC-SHA1(auth token, URL + each POST parameter's name immediately
//! followed by its value, parameters sorted by name)). Herald's Twilio plugin
//! verifies exactly this, so the simulator must produce it bit for bit.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;

/// The `X-Twilio-Signature` value for a POST of `params` to `url`, signed with
/// `auth_token`. `url` is used exactly as given (scheme, host, port, path and
/// query string). Parameters with the same name keep their relative order,
/// like Twilio's helper libraries.
pub fn twilio_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0)); // stable: repeated names keep order
    let mut mac =
        Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC accepts any key length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    BASE64.encode(mac.finalize().into_bytes())
}

/// The `sig` of a Vonage signed webhook (SMS API receipts and inbound
/// messages) carrying `params`, with the HMAC-SHA256 method: every
/// parameter but `sig`, sorted by name, as `&name=value` with `&` and `=`
/// in values replaced by `_` (Vonage's "Signing Messages" guide, "Manually
/// generate a signature", and its SDKs' `signature()`), HMAC-SHA256 keyed
/// with the signature secret, upper-case hex as Vonage sends it.
pub fn vonage_signature(signature_secret: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().filter(|(k, _)| k != "sig").collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut mac = Hmac::<Sha256>::new_from_slice(signature_secret.as_bytes())
        .expect("HMAC accepts any key length");
    for (name, value) in sorted {
        let value = value.replace(['&', '='], "_");
        mac.update(format!("&{name}={value}").as_bytes());
    }
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{twilio_signature, vonage_signature};

    /// The same string signed by Python's `hmac` (the plugin's scheme,
    /// computed apart from this code): `&a=1&b=2_3&timestamp=1461605396`
    /// under the key `secret`.
    #[test]
    fn vonage_signs_sorted_params_with_separators_replaced() {
        let params = pairs(&[
            ("timestamp", "1461605396"),
            ("b", "2&3"),
            ("a", "1"),
            ("sig", "ignored"),
        ]);
        assert_eq!(
            vonage_signature("secret", &params),
            "9F2EA292772DA9E9A82CE4D5816559542B128A0FA800D972C5887AA4A2D88F12"
        );
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The worked example from Twilio's security docs and its helper
    /// libraries' signature-validation snippets (TwilioDevEd/api-snippets,
    /// security/signature_validation): token 12345, this URL and these params.
    #[test]
    fn matches_twilio_documented_example() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        // Deliberately unsorted: the function must sort them.
        let params = pairs(&[
            ("To", "+18005551212"),
            ("CallSid", "CA1234567890ABCDE"),
            ("From", "+14158675310"),
            ("Digits", "1234"),
            ("Caller", "+14158675310"),
        ]);
        assert_eq!(
            twilio_signature("12345", url, &params),
            "GvWf1cFY/Q7PnoempGyD5oXAezc="
        );
        // The older revision of the same example (twilio-php docs).
        let params = pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]);
        assert_eq!(
            twilio_signature("12345", url, &params),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
    }

    #[test]
    fn any_change_changes_the_signature() {
        let url = "http://127.0.0.1:8080/cb";
        let params = pairs(&[("MessageStatus", "sent"), ("MessageSid", "SM1")]);
        let base = twilio_signature("token", url, &params);
        assert_ne!(base, twilio_signature("other", url, &params));
        assert_ne!(
            base,
            twilio_signature("token", "http://127.0.0.1:8081/cb", &params)
        );
        let changed = pairs(&[("MessageStatus", "delivered"), ("MessageSid", "SM1")]);
        assert_ne!(base, twilio_signature("token", url, &changed));
    }
}
