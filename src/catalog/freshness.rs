//! Whether an answer read from the public catalog still stands.
//!
//! Every change to the market appends its audit entries in its own
//! transaction, so the log is the catalog's change feed, shared by every
//! instance on one database: an answer read when the log held `n` entries
//! still stands as long as no entry from `n` on is one that may change what
//! the public catalog shows. Reading that costs one short statement (the
//! log's size) while the log stands still, and one more (the actions of the
//! few entries appended since the last look) when it moved: far less than a
//! search. The gateway keeps public answers on this basis; nothing stale is
//! served, on one instance or several.

use std::sync::Mutex;

use crate::audit::{Action, window};
use crate::error::Result;
use crate::market::Market;

/// The actions that leave every listing's public view and every search as
/// they were: new and verified accounts, sign-ins, requests and grants,
/// deliveries, trading, money, complaints, alerts, webhooks and the
/// Dataspace Protocol's processes. Any
/// other action (including one added later and not named here) counts as a
/// change of the catalog, so a new kind of change can make answers be read
/// again, never make a stale one stand.
const LEAVE_THE_CATALOG: &[Action] = &[
    Action::AccountCreated,
    Action::AccountVerified,
    Action::AccountLogin,
    Action::AccountLoginFailed,
    Action::AccessRequestCreated,
    Action::AccessRequestApproved,
    Action::AccessRequestRejected,
    Action::AccessRequestWithdrawn,
    Action::AccessRequestExpired,
    Action::AccessRequestReviewed,
    Action::GrantCreated,
    Action::GrantRevoked,
    Action::GrantExpired,
    Action::GrantExpiring,
    Action::DataTokenIssued,
    Action::DeliveryCompleted,
    Action::DeliveryRefused,
    Action::OrderPlaced,
    Action::OrderPaid,
    Action::OrderFulfilled,
    Action::OrderSettled,
    Action::OrderCancelled,
    Action::OrderDeclined,
    Action::OrderExpired,
    Action::OrderRefunded,
    Action::LedgerPosted,
    Action::PaymentReceived,
    Action::PayoutRequested,
    Action::PayoutPaid,
    Action::PayoutRejected,
    Action::ComplaintFiled,
    Action::ComplaintDecided,
    Action::AlertRaised,
    Action::AlertAcknowledged,
    Action::AlertResolved,
    Action::WebhookRegistered,
    Action::WebhookRemoved,
    Action::WebhookRedelivered,
    Action::DspNegotiationRequested,
    Action::DspNegotiationAgreed,
    Action::DspNegotiationVerified,
    Action::DspNegotiationFinalized,
    Action::DspNegotiationTerminated,
    Action::DspTransferRequested,
    Action::DspTransferStarted,
    Action::DspTransferSuspended,
    Action::DspTransferCompleted,
    Action::DspTransferTerminated,
];

/// At most this many entries are looked through per reading; when more were
/// appended since the last, the catalog counts as changed (a busy market
/// loses its kept answers, never their freshness).
const MAX_LOOK: u64 = 256;

/// Where the catalog stood at one reading of the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reading {
    /// Counts the logs this instance has seen: a log that got shorter (a
    /// database replaced under a running server) starts a new epoch.
    epoch: u64,
    /// The log's size at the reading.
    size: u64,
    /// No entry at or after this position, and below `size`, changes the
    /// catalog (as far as this instance has looked: never too low).
    changed_at: u64,
}

impl Reading {
    /// Whether an answer read from the database after the reading `then`
    /// is still the catalog's answer at this reading.
    pub fn still_stands(self, then: Reading) -> bool {
        self.epoch == then.epoch && self.epoch != UNSETTLED && self.changed_at <= then.size
    }
}

/// The epoch of a reading taken while the log was being replaced, which
/// nothing stands against.
const UNSETTLED: u64 = u64::MAX;

/// What this instance knows of the log: the entries below `looked` have
/// been looked through, and none from `changed_at` on changes the catalog.
#[derive(Debug, Default)]
pub struct Watermark {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    epoch: u64,
    looked: u64,
    changed_at: u64,
}

impl Watermark {
    /// Reads where the catalog stands now: the log's size, and the actions
    /// of the entries appended since the last reading.
    pub async fn read(&self, market: &Market) -> Result<Reading> {
        let (epoch, looked) = {
            let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            (state.epoch, state.looked)
        };
        // Both statements are the DSL's, prepared once per connection (a
        // hand-written or `IN (…)` query is parsed afresh every time); the
        // second runs only when the log moved, and not at all when it moved
        // too far to look through (`None`).
        let (size, appended) = market
            .db
            .read_short(move |conn| {
                let size = window::logged(conn)?;
                if size <= looked || size - looked > MAX_LOOK {
                    return Ok((size, None));
                }
                Ok((size, Some(window::actions_between(conn, looked, size)?)))
            })
            .await?;
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.epoch != epoch {
            // The log was replaced while this look was under way: what it
            // saw belongs to neither log.
            return Ok(Reading {
                epoch: UNSETTLED,
                size,
                changed_at: u64::MAX,
            });
        }
        if size < looked {
            // Another log than the one looked through (a database replaced
            // under a running server): nothing read from the old may stand.
            state.epoch += 1;
            state.looked = size;
            state.changed_at = size;
        } else if size > looked {
            // `looked..size` was looked through, or was too long to be.
            let changed_at = match appended {
                None => Some(size),
                Some(actions) => actions
                    .iter()
                    .rev()
                    .find(|(_, action)| !LEAVE_THE_CATALOG.iter().any(|a| a.as_str() == action))
                    .map(|(index, _)| index + 1),
            };
            if let Some(changed_at) = changed_at {
                state.changed_at = state.changed_at.max(changed_at);
            }
            state.looked = state.looked.max(size);
        }
        Ok(Reading {
            epoch: state.epoch,
            size,
            changed_at: state.changed_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(epoch: u64, size: u64, changed_at: u64) -> Reading {
        Reading {
            epoch,
            size,
            changed_at,
        }
    }

    #[test]
    fn an_answer_stands_until_a_change_after_it() {
        let then = reading(0, 10, 4);
        assert!(reading(0, 10, 4).still_stands(then));
        // entries 10.. appended, none a change
        assert!(reading(0, 15, 4).still_stands(then));
        // a change at 10 (changed_at 11)
        assert!(!reading(0, 15, 11).still_stands(then));
        // a change at 9 was already in the answer
        assert!(reading(0, 15, 10).still_stands(then));
        // another log
        assert!(!reading(1, 15, 4).still_stands(then));
        let unsettled = reading(UNSETTLED, 10, 4);
        assert!(!unsettled.still_stands(unsettled));
    }

    #[test]
    fn the_harmless_actions_are_no_catalog_words() {
        for action in LEAVE_THE_CATALOG {
            let word = action.as_str();
            assert!(
                !word.starts_with("dataset.")
                    && !word.starts_with("version.")
                    && !word.starts_with("right.")
                    && !word.starts_with("offer.")
                    && !word.starts_with("freeze.")
                    && !word.starts_with("derivation."),
                "{word} changes the catalog"
            );
        }
    }
}
