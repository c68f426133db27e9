//! Keyword classification of an inbound reply: does it opt the sender out of
//! (or back into) messages from this sender?
//!
//! Matching follows what carriers and the big SMS providers do: the keyword
//! must be the whole message, compared case-insensitively after trimming
//! whitespace and trailing punctuation. "STOP", " stop. " and "Stop!!" opt out;
//! "please stop texting me" does not (a person reads that one), which keeps a
//! conversation mentioning "end" or "cancel" from silently unsubscribing.

/// Opt-out keywords of the US CTIA guidelines, which carriers enforce
/// themselves and which providers like Twilio apply by default.
const OPT_OUT: [&str; 8] = [
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
];

/// Keywords that always lift an opt-out.
const OPT_IN: [&str; 2] = ["START", "UNSTOP"];

/// Carriers answer these with the program's help text.
const HELP: [&str; 2] = ["HELP", "INFO"];

/// What a reply means for the sender's subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyKind {
    OptOut,
    OptIn,
    Help,
    /// An ordinary reply, for a person (or an agent inbox) to read.
    Message,
}

/// Classifies `reply`. `sender_opted_out` says whether the sender is currently
/// opted out: "YES" re-subscribes only then.
///
/// Why YES is conditional: carriers and providers (Twilio's defaults among
/// them) accept YES as an opt-in keyword, but to a campaign message it is far
/// more often a plain answer ("Interested? Reply YES"). Treating it as an
/// opt-in only for someone who opted out gives the carrier behaviour where it
/// matters and keeps it from swallowing ordinary replies.
pub fn classify(reply: &str, sender_opted_out: bool) -> ReplyKind {
    let word = keyword(reply);
    let is = |list: &[&str]| list.iter().any(|k| k.eq_ignore_ascii_case(word));
    if is(&OPT_OUT) {
        ReplyKind::OptOut
    } else if is(&OPT_IN) || (sender_opted_out && word.eq_ignore_ascii_case("YES")) {
        ReplyKind::OptIn
    } else if is(&HELP) {
        ReplyKind::Help
    } else {
        ReplyKind::Message
    }
}

/// The reply as a candidate keyword: surrounding whitespace and trailing
/// punctuation (ASCII and the full-width forms phones type in CJK locales)
/// removed.
fn keyword(reply: &str) -> &str {
    reply.trim().trim_end_matches(|c: char| {
        c.is_ascii_punctuation() || c.is_whitespace() || matches!(c, '。' | '！' | '？' | '…')
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReplyKind::*;

    #[test]
    fn every_opt_out_keyword_in_any_case() {
        for k in OPT_OUT {
            assert_eq!(classify(k, false), OptOut, "{k}");
            assert_eq!(classify(&k.to_lowercase(), false), OptOut, "{k}");
        }
        assert_eq!(classify("Unsubscribe", false), OptOut);
        assert_eq!(classify("sToP", true), OptOut);
    }

    #[test]
    fn whitespace_and_trailing_punctuation_are_ignored() {
        for reply in [
            "  STOP  ", "stop.", "Stop!!", "STOP ?", "\nquit\n", "stop！", "End...",
        ] {
            assert_eq!(classify(reply, false), OptOut, "{reply:?}");
        }
    }

    #[test]
    fn a_keyword_inside_a_sentence_is_a_message() {
        for reply in [
            "please stop",
            "stop texting me",
            "I want to cancel my order",
            "STOP STOP",
            ".stop",
            "stopp",
            "st op",
            "",
            "   ",
        ] {
            assert_eq!(classify(reply, false), Message, "{reply:?}");
        }
    }

    #[test]
    fn start_and_unstop_always_opt_in() {
        for reply in ["START", "start", "Unstop!"] {
            assert_eq!(classify(reply, false), OptIn, "{reply}");
            assert_eq!(classify(reply, true), OptIn, "{reply}");
        }
    }

    #[test]
    fn yes_opts_in_only_someone_who_opted_out() {
        assert_eq!(classify("Yes!", true), OptIn);
        assert_eq!(classify("yes", false), Message);
        assert_eq!(classify("yes please", true), Message);
    }

    #[test]
    fn help_keywords() {
        assert_eq!(classify("help", false), Help);
        assert_eq!(classify("INFO?", true), Help);
    }
}
