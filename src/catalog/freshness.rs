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
//!
//! Requests that arrive together share one reading ([`Turns`]): a reading
//! that began after a request arrived is as good for it as its own, and on
//! PostgreSQL each reading is a round trip.

use std::future::Future;
use std::pin::pin;
use std::sync::Mutex;

use tokio::sync::Notify;

use crate::audit::{Action, window};
use crate::error::{Error, Result};
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
    turns: Turns,
}

#[derive(Debug, Default)]
struct State {
    epoch: u64,
    looked: u64,
    changed_at: u64,
}

impl Watermark {
    /// Where the catalog stands now: a reading of the log taken after this
    /// call began, shared with the calls that wait for it.
    pub async fn read(&self, market: &Market) -> Result<Reading> {
        self.turns.take(|| self.look(market)).await
    }

    /// Reads the log's size, and the actions of the entries appended since
    /// the last reading.
    async fn look(&self, market: &Market) -> Result<Reading> {
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

/// Readings taken one at a time, each shared by every caller that arrived
/// before it began: while one is under way, the callers that arrive wait
/// for it to end and then share the next. A caller never takes a reading
/// that began before it arrived, so it sees every change committed before
/// its request, as a reading of its own would.
#[derive(Debug, Default)]
struct Turns {
    state: Mutex<TurnState>,
    ended: Notify,
}

#[derive(Debug, Default)]
struct TurnState {
    /// Readings begun so far; the next one is `begun + 1`.
    begun: u64,
    /// A reading is under way (or about to begin).
    under_way: bool,
    /// The latest reading that ended, its number, and what it read or why
    /// it failed: the callers that waited for a failed one fail with it,
    /// instead of each trying again in turn (against a database that is
    /// down, one timeout after another).
    ended: Option<(u64, std::result::Result<Reading, String>)>,
}

impl Turns {
    fn lock(&self) -> std::sync::MutexGuard<'_, TurnState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn take<F, Fut>(&self, look: F) -> Result<Reading>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Reading>>,
    {
        // Any reading numbered `wanted` or later begins after this moment.
        let wanted = self.lock().begun + 1;
        loop {
            // Registered before the state is read, so an end between the
            // two is not missed.
            let ended = pin!(self.ended.notified());
            {
                let mut state = self.lock();
                if let Some((number, outcome)) = &state.ended
                    && *number >= wanted
                {
                    return outcome.clone().map_err(Error::Unavailable);
                }
                if !state.under_way {
                    state.under_way = true;
                    break;
                }
            }
            ended.await;
        }
        let turn = TurnGuard(self);
        // On SQLite a reading runs on the worker's own thread and holds it:
        // the requests already waiting to run on this thread first come in
        // and wait for this reading instead of each taking one after it.
        tokio::task::yield_now().await;
        let number = {
            let mut state = self.lock();
            state.begun += 1;
            state.begun
        };
        let reading = look().await;
        // Readings end in the order they began: one is under way at a time.
        self.lock().ended = Some((
            number,
            reading
                .as_ref()
                .map(|r| *r)
                .map_err(|e| format!("the catalog's freshness: {e}")),
        ));
        drop(turn);
        reading
    }
}

/// Ends a turn however its caller leaves (done, failed or dropped): the
/// waiting callers then see its reading, or take the next.
struct TurnGuard<'a>(&'a Turns);

impl Drop for TurnGuard<'_> {
    fn drop(&mut self) {
        self.0.lock().under_way = false;
        self.0.ended.notify_waiters();
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

    /// A reading that records the logical time it began as its size.
    async fn timed_look(
        clock: &std::sync::atomic::AtomicU64,
        looks: &std::sync::atomic::AtomicU64,
    ) -> Result<Reading> {
        use std::sync::atomic::Ordering::SeqCst;
        let began = clock.fetch_add(1, SeqCst);
        looks.fetch_add(1, SeqCst);
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        Ok(reading(0, began, 0))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn callers_share_readings_that_began_after_they_arrived() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
        let turns = Arc::new(Turns::default());
        let clock = Arc::new(AtomicU64::new(0));
        let looks = Arc::new(AtomicU64::new(0));
        let callers: Vec<_> = (0..200)
            .map(|_| {
                let (turns, clock, looks) = (turns.clone(), clock.clone(), looks.clone());
                tokio::spawn(async move {
                    let arrived = clock.fetch_add(1, SeqCst);
                    let reading = turns.take(|| timed_look(&clock, &looks)).await.unwrap();
                    (arrived, reading.size)
                })
            })
            .collect();
        for caller in callers {
            let (arrived, began) = caller.await.unwrap();
            assert!(
                began > arrived,
                "a reading begun at {began} served a caller that arrived at {arrived}"
            );
        }
        let looks = looks.load(SeqCst);
        assert!(looks < 100, "200 callers took {looks} readings");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn callers_waiting_for_a_failed_reading_fail_with_it() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
        let turns = Arc::new(Turns::default());
        let looks = Arc::new(AtomicU64::new(0));
        let callers: Vec<_> = (0..50)
            .map(|_| {
                let (turns, looks) = (turns.clone(), looks.clone());
                tokio::spawn(async move {
                    turns
                        .take(|| async {
                            looks.fetch_add(1, SeqCst);
                            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                            Err::<Reading, _>(Error::Unavailable("down".into()))
                        })
                        .await
                })
            })
            .collect();
        for caller in callers {
            assert!(caller.await.unwrap().is_err());
        }
        // Each failed reading fails everyone who waited for it: a few
        // readings in all, not one per caller.
        let looks = looks.load(SeqCst);
        assert!(
            looks <= 3,
            "50 callers took {looks} readings of a database that is down"
        );
    }

    #[tokio::test]
    async fn a_caller_that_leaves_mid_reading_does_not_hold_up_the_rest() {
        use std::sync::Arc;
        let turns = Arc::new(Turns::default());
        let stuck = {
            let turns = turns.clone();
            tokio::spawn(async move { turns.take(std::future::pending).await })
        };
        tokio::task::yield_now().await;
        tokio::task::yield_now().await;
        assert!(turns.lock().under_way);
        stuck.abort();
        assert!(stuck.await.unwrap_err().is_cancelled());
        let reading = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            turns.take(|| async { Ok(reading(0, 7, 0)) }),
        )
        .await
        .expect("the next caller takes its own reading")
        .unwrap();
        assert_eq!(reading.size, 7);
    }
}
