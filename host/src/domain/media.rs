//! MMS media: what we accept, decided by the bytes themselves (a client's
//! `Content-Type` is only a claim). The allowlist is the set of types MMS
//! providers (Twilio, Infobip) document as deliverable to handsets.

/// Largest upload: MMS providers transcode down, but peers accept 100 MB.
pub const MAX_MEDIA_BYTES: usize = 100 << 20;

/// Bytes kept from the start of an upload for [`sniff`] (it reads 16).
pub const SNIFF_BYTES: usize = 64;

/// Media are stored and served in pieces of this size, so neither an upload
/// nor a provider's fetch ever holds a whole file in memory. (Pieces are
/// reused by hash and sequence number: before changing the size, delete the
/// pieces no blob row claims, left by interrupted uploads.)
pub const MEDIA_CHUNK_BYTES: usize = 256 << 10;

/// The accepted types, for error messages.
pub const ACCEPTED: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "image/bmp",
    "video/mp4",
    "video/3gpp",
    "video/quicktime",
    "audio/mpeg",
    "audio/ogg",
    "audio/wav",
    "audio/amr",
    "audio/mp4",
    "application/pdf",
];

/// The media type of `bytes` if it is on the allowlist.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    let at = |offset: usize, magic: &[u8]| bytes.get(offset..offset + magic.len()) == Some(magic);
    if starts(&[0xFF, 0xD8, 0xFF]) {
        return Some("image/jpeg");
    }
    if starts(b"\x89PNG\r\n\x1a\n") {
        return Some("image/png");
    }
    if starts(b"GIF87a") || starts(b"GIF89a") {
        return Some("image/gif");
    }
    if starts(b"RIFF") && at(8, b"WEBP") {
        return Some("image/webp");
    }
    if starts(b"RIFF") && at(8, b"WAVE") {
        return Some("audio/wav");
    }
    if starts(b"BM") && bytes.len() > 14 {
        return Some("image/bmp");
    }
    if starts(b"%PDF-") {
        return Some("application/pdf");
    }
    if starts(b"OggS") {
        return Some("audio/ogg");
    }
    if starts(b"#!AMR") {
        return Some("audio/amr");
    }
    if starts(b"ID3") || (bytes.len() > 1 && bytes[0] == 0xFF && bytes[1] & 0xE0 == 0xE0) {
        return Some("audio/mpeg");
    }
    // ISO base media: `....ftypBRAND`.
    if at(4, b"ftyp") {
        let brand = bytes.get(8..12)?;
        return Some(match brand {
            b"qt  " => "video/quicktime",
            b"3gp4" | b"3gp5" | b"3gp6" | b"3gg6" | b"3ge6" => "video/3gpp",
            b"M4A " => "audio/mp4",
            _ => "video/mp4",
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_common_mms_types() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n0000"), Some("image/png"));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0]), Some("image/jpeg"));
        assert_eq!(sniff(b"%PDF-1.7\n"), Some("application/pdf"));
        assert_eq!(sniff(b"\0\0\0\x18ftypmp42\0\0"), Some("video/mp4"));
        assert_eq!(sniff(b"\0\0\0\x14ftypqt  \0\0"), Some("video/quicktime"));
    }

    #[test]
    fn refuses_what_is_not_media() {
        assert_eq!(sniff(b"<html><body>"), None);
        assert_eq!(sniff(b"MZ\x90\0"), None);
        assert_eq!(sniff(b""), None);
    }
}
