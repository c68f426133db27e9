//! Tests of the campaign lifecycle table (`lifecycle.rs`).

use super::*;
use Action as A;
use Outcome::Becomes;
use Status as S;
use proptest::prelude::*;

fn all_actions() -> Vec<Action> {
    Action::USER.into_iter().chain(Action::ENGINE).collect()
}

fn becomes(from: Status, action: Action) -> Option<Status> {
    match from.apply(action) {
        Ok(Becomes(s)) => Some(s),
        _ => None,
    }
}

#[test]
fn go_live_pause_resume_complete_archive() {
    let s = create();
    let s = becomes(s, A::GoLive).unwrap();
    let s = becomes(s, A::Pause).unwrap();
    assert_eq!(s, S::Paused(PauseReason::User));
    let s = becomes(s, A::Resume).unwrap();
    let s = becomes(s, A::AllFinal).unwrap();
    assert_eq!(becomes(s, A::Archive), Some(S::Archived));
    assert_eq!(S::Archived.apply(A::Delete), Ok(Outcome::Deleted));
}

#[test]
fn sender_contention_and_faults() {
    assert_eq!(becomes(S::Running, A::SenderBusy), Some(S::Pending));
    assert_eq!(becomes(S::Pending, A::SenderFree), Some(S::Running));
    let fault = A::Fault(FaultCause::PluginQuarantined);
    let stopped = becomes(S::Running, fault).unwrap();
    assert_eq!(stopped.reason(), Some("plugin_quarantined"));
    assert_eq!(becomes(stopped, A::FaultCleared), Some(S::Running));
    // A paused campaign stays paused through a fault: the user paused it.
    assert!(S::Paused(PauseReason::User).apply(fault).is_err());
}

#[test]
fn auto_pause_keeps_its_reason() {
    let s = becomes(S::Running, A::AutoPause(AutoPause::InsufficientCredits)).unwrap();
    assert_eq!(s, S::Paused(PauseReason::InsufficientCredits));
    assert_eq!(s.reason(), Some("insufficient_credits"));
    assert_eq!(S::parse("paused", Some("insufficient_credits")), Some(s));
    assert_eq!(becomes(s, A::Resume), Some(S::Running));
}

#[test]
fn retry_failed_runs_again_from_completed() {
    let s = becomes(S::Completed, A::RetryFailed).unwrap();
    assert_eq!(s, S::Retrying);
    assert_eq!(becomes(s, A::AllFinal), Some(S::Completed));
    assert!(S::Cancelled.apply(A::RetryFailed).is_err());
}

#[test]
fn delete_only_when_not_live_or_finished() {
    for s in S::ALL {
        let may = matches!(s, S::Draft | S::Completed | S::Cancelled | S::Archived);
        assert_eq!(s.apply(A::Delete).is_ok(), may, "{s:?}");
    }
}

#[test]
fn refusal_lists_the_allowed_actions() {
    let err = S::Completed.apply(A::Pause).unwrap_err();
    assert_eq!(err.allowed, ["retry_failed", "archive", "delete"]);
    assert_eq!(
        err.to_string(),
        "cannot pause a campaign that is completed; \
         allowed from completed: retry_failed, archive, delete"
    );
    let err = S::Archived.apply(A::Archive).unwrap_err();
    assert_eq!(err.allowed, ["delete"]);
}

#[test]
fn editing_narrows_once_live() {
    assert_eq!(editable_fields(S::Draft), Field::ALL);
    assert!(check_edit(S::Draft, &[Field::Content, Field::Audience]).is_ok());
    assert!(check_edit(S::Running, &[Field::Name, Field::Schedule]).is_ok());
    let err = check_edit(S::Running, &[Field::Name, Field::Content]).unwrap_err();
    assert_eq!(err.refused, ["content"]);
    assert_eq!(
        err.to_string(),
        "cannot edit content of a campaign that is running; \
         editable: name, notes, tags, schedule"
    );
    assert!(S::Completed.apply(A::Edit).is_err());
    assert!(check_edit(S::Archived, &[Field::Notes]).is_err());
}

#[test]
fn markdown_table_has_a_row_per_status() {
    let table = markdown_table();
    for s in S::ALL {
        assert!(table.contains(&format!("\n| {} |", s.as_str())), "{s:?}");
    }
    assert_eq!(table.lines().count(), 2 + 10);
    assert!(table.contains("| draft | edit → draft, go_live → running,"));
    assert!(table.contains("auto_pause → paused"));
}

#[test]
fn parse_round_trips() {
    for s in S::ALL {
        assert_eq!(S::parse(s.as_str(), s.reason()), Some(s));
    }
    assert_eq!(S::parse("paused", None), None);
}

fn arb_action() -> impl Strategy<Value = Action> {
    proptest::sample::select(all_actions())
}

proptest! {
    #[test]
    fn a_live_campaign_never_returns_to_draft(
        actions in proptest::collection::vec(arb_action(), 0..40),
    ) {
        let mut status = create();
        for a in actions {
            match status.apply(a) {
                Ok(Becomes(next)) => {
                    prop_assert!(!(status.is_live() && next == S::Draft), "{status:?} {a:?}");
                    status = next;
                }
                Ok(Outcome::Deleted) => break,
                Err(refused) => prop_assert!(refused.from == status.as_str()),
            }
        }
    }
}

#[test]
fn terminal_statuses_only_allow_archive_or_delete() {
    for s in S::ALL.into_iter().filter(|s| s.is_terminal()) {
        for a in all_actions() {
            if s.apply(a).is_ok() {
                assert!(matches!(a, A::Archive | A::Delete), "{s:?} allows {a:?}");
            }
        }
    }
}

#[test]
fn every_status_is_reachable_from_draft() {
    let mut reached = vec![create()];
    let mut frontier = vec![create()];
    while let Some(s) = frontier.pop() {
        for a in all_actions() {
            if let Some(next) = becomes(s, a)
                && !reached.contains(&next)
            {
                reached.push(next);
                frontier.push(next);
            }
        }
    }
    for s in S::ALL {
        assert!(reached.contains(&s), "{s:?} unreachable");
    }
}

#[test]
fn every_live_status_can_still_end() {
    // No trap: from any live status some path reaches Completed or Cancelled.
    for s in S::ALL
        .into_iter()
        .filter(|s| s.is_live() && !s.is_terminal())
    {
        let ends = [A::Cancel, A::AllFinal, A::EndDatePassed, A::Archive]
            .into_iter()
            .any(|a| {
                matches!(
                    becomes(s, a),
                    Some(S::Cancelled | S::Completed | S::Archived)
                )
            });
        assert!(ends, "{s:?}");
    }
}

/// The README's status table is `markdown_table()`, verbatim, between its
/// markers; `HERALD_UPDATE_README=1` rewrites it there.
#[test]
fn readme_status_table_matches_the_code() {
    const BEGIN: &str = "<!-- lifecycle-table:begin -->\n";
    const END: &str = "<!-- lifecycle-table:end -->";
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
    let readme = std::fs::read_to_string(path).expect("README.md readable");
    let start = readme.find(BEGIN).expect("README has the begin marker") + BEGIN.len();
    let end = readme.find(END).expect("README has the end marker");
    let table = markdown_table();
    if std::env::var_os("HERALD_UPDATE_README").is_some() {
        let updated = format!("{}{table}{}", &readme[..start], &readme[end..]);
        std::fs::write(path, updated).expect("README.md writable");
        return;
    }
    assert_eq!(
        &readme[start..end],
        table,
        "README status table is stale; run HERALD_UPDATE_README=1 cargo test -p herald readme"
    );
}
