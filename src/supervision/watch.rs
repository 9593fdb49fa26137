//! The early-warning watch: reads the audit log forward from where it last
//! stopped and runs the rules over what it reads, raising [`super::alerts`]
//! with the entries that set them off as evidence. Its position is one row;
//! a round judges the entries after it on a read connection, then claims
//! them with a conditional update of that row, so of several instances
//! reading at once exactly one raises what each entry sets off, and its
//! alerts commit with the claim or not at all.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde_json::json;
use uuid::Uuid;

use super::alerts::{self, AlertRule, AlertSubject, Raise, Standing};
use crate::audit::Action;
use crate::audit::window::{self, About, Seen};
use crate::catalog::{self, DatasetRow};
use crate::config::SupervisionSettings;
use crate::domain::Classification;
use crate::error::Result;
use crate::market::Market;
use crate::store::DbConnection;
use crate::store::schema::alert_watch;

/// How many indexes an alert keeps as evidence, newest first.
const EVIDENCE: i64 = 100;

/// What one round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// Log entries read.
    pub read: u64,
    /// Alerts raised.
    pub raised: usize,
}

/// Reads the next entries of the log and raises what the rules find.
///
/// The rules read, and count, on a plain read connection: a round over a
/// busy log counts a lot, and doing that inside the writer stalled every
/// other change for as long (on SQLite, every download waited). Only the
/// claim and the alerts take the writer. The claim is a conditional update
/// of the position the rules read from, so of several instances looking at
/// the same entries exactly one raises what they found.
pub async fn round(market: &Market) -> Result<Round> {
    let rules = market.settings.supervision.clone();
    let looked = market
        .db
        .read(move |conn| {
            let position: i64 = alert_watch::table
                .find(1)
                .select(alert_watch::position)
                .first(conn)?;
            let from = position.max(0) as u64;
            let logged = window::logged(conn)?;
            if from >= logged {
                return Ok(None);
            }
            let to = logged.min(from + u64::from(rules.watch_batch));
            let seen = window::entries_between(
                conn,
                from,
                to,
                &[
                    Action::DeliveryCompleted,
                    Action::DeliveryRefused,
                    Action::AccessRequestCreated,
                    Action::DatasetUpdated,
                ],
            )?;
            let mut look = Look {
                conn,
                rules: &rules,
                datasets: HashMap::new(),
                in_force: HashMap::new(),
                found: Vec::new(),
            };
            look.delivery_surges(&seen)?;
            look.personal_data_sweeps(&seen)?;
            look.refused_deliveries(&seen)?;
            look.cross_border_important(&seen)?;
            look.downgrades(&seen)?;
            Ok(Some((position, to, look.found)))
        })
        .await?;
    let Some((position, to, found)) = looked else {
        return Ok(Round::default());
    };
    let read = to - position.max(0) as u64;
    market
        .db
        .write(move |conn| {
            let claimed = diesel::update(
                alert_watch::table
                    .filter(alert_watch::id.eq(1))
                    .filter(alert_watch::position.eq(position)),
            )
            .set(alert_watch::position.eq(to as i64))
            .execute(conn)?;
            if claimed == 0 {
                return Ok(Round::default());
            }
            let mut raised = 0;
            for alert in &found {
                if alerts::raise(conn, alert.clone())?.is_some() {
                    raised += 1;
                }
            }
            Ok(Round { read, raised })
        })
        .await
}

/// Runs rounds every `supervision.watch_interval_ms` until aborted; a round
/// that read a full batch is followed by another at once.
pub fn spawn_watch(market: Market) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let period =
            std::time::Duration::from_millis(market.settings.supervision.watch_interval_ms);
        let batch = u64::from(market.settings.supervision.watch_batch);
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            loop {
                match round(&market).await {
                    Ok(done) => {
                        if done.raised > 0 {
                            tracing::info!(raised = done.raised, read = done.read, "early warning");
                        }
                        if done.read < batch {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "early-warning round failed");
                        break;
                    }
                }
            }
        }
    })
}

/// When a cross-border request was made, and for which dataset.
type Asked = (DateTime<Utc>, Option<Uuid>);

/// One round's look at what it read.
struct Look<'a> {
    conn: &'a mut DbConnection,
    rules: &'a SupervisionSettings,
    datasets: HashMap<Uuid, Option<DatasetRow>>,
    /// Where alerts of a rule about a subject stand, as read this round and
    /// as what this round found will leave them.
    in_force: HashMap<(AlertRule, String), Standing>,
    found: Vec<Raise>,
}

/// Each entry of `action` read, with its key, in log order. Every one is
/// judged in the window that ends at it: a watch that fell behind still
/// sees a burst that a later, quieter entry's window would not hold.
fn each_by<K>(seen: &[Seen], action: Action, key: impl Fn(&Seen) -> Option<K>) -> Vec<(K, &Seen)> {
    seen.iter()
        .filter(|e| e.action == action)
        .filter_map(|e| key(e).map(|k| (k, e)))
        .collect()
}

fn seconds(secs: u64) -> Duration {
    Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 4))
}

/// The grant an entry is about, when it is about one.
fn grant_of(entry: &Seen) -> Option<String> {
    entry
        .detail
        .get("grant")
        .and_then(|g| g.as_str())
        .filter(|g| *g == entry.subject)
        .map(str::to_owned)
}

impl Look<'_> {
    fn dataset(&mut self, id: Option<Uuid>) -> Result<Option<DatasetRow>> {
        let Some(id) = id else { return Ok(None) };
        if !self.datasets.contains_key(&id) {
            let row = catalog::load(self.conn, id)?;
            self.datasets.insert(id, row);
        }
        Ok(self.datasets.get(&id).cloned().flatten())
    }

    /// Whether what this round reads could still raise an alert of `rule`
    /// about `subject`. Not while one is in force, in the database or found
    /// earlier this round about a subject never alerted on: raising is then
    /// a no-op, and judging every later entry about the subject (a count
    /// over the window each) only cost time. After a resolved alert each
    /// entry is still judged, since only fresh evidence raises it again.
    fn open_to(&mut self, rule: AlertRule, subject: &str) -> Result<bool> {
        let key = (rule, subject.to_owned());
        let standing = match self.in_force.get(&key) {
            Some(standing) => *standing,
            None => {
                let standing = alerts::standing(self.conn, rule, subject)?;
                self.in_force.insert(key, standing);
                standing
            }
        };
        Ok(standing != Standing::InForce)
    }

    /// Records what a rule found, with where it belongs: the concerned
    /// participant's region and the dataset's sector.
    #[allow(clippy::too_many_arguments)]
    fn found(
        &mut self,
        rule: AlertRule,
        subject_kind: AlertSubject,
        subject: String,
        account: Option<Uuid>,
        dataset: Option<Uuid>,
        summary: String,
        evidence: Vec<u64>,
        figures: serde_json::Value,
        fresh: u32,
    ) -> Result<()> {
        let region = match account {
            Some(account) => crate::accounts::region_of(self.conn, account)?,
            None => None,
        };
        let sector = self
            .dataset(dataset)?
            .and_then(|d| d.sector.map(|s| s.as_str().to_owned()));
        // A subject never alerted on gets this alert when the round ends;
        // after a resolved one, fresh evidence decides, so it stays judged.
        if let Some(standing) = self.in_force.get_mut(&(rule, subject.clone()))
            && *standing == Standing::Never
        {
            *standing = Standing::InForce;
        }
        self.found.push(Raise {
            rule,
            subject_kind,
            subject,
            account,
            dataset,
            region,
            sector,
            summary,
            evidence,
            figures,
            fresh: fresh as usize,
        });
        Ok(())
    }

    /// A grant delivering far more in the window than its own history.
    fn delivery_surges(&mut self, seen: &[Seen]) -> Result<()> {
        let rule = &self.rules.delivery_surge;
        let (span, history) = (seconds(rule.window_secs), seconds(rule.history_secs));
        for (grant, entry) in each_by(seen, Action::DeliveryCompleted, grant_of) {
            if !self.open_to(AlertRule::DeliverySurge, &grant)? {
                continue;
            }
            let t = entry.time;
            let about = About::Subject(&grant);
            let (recent, hits) = window::in_window(
                self.conn,
                Action::DeliveryCompleted,
                about,
                t - span,
                t,
                EVIDENCE,
            )?;
            if recent < i64::from(rule.min_deliveries) {
                continue;
            }
            let (before, _) = window::in_window(
                self.conn,
                Action::DeliveryCompleted,
                about,
                t - history,
                t - span,
                0,
            )?;
            let windows = (rule.history_secs - rule.window_secs) as f64 / rule.window_secs as f64;
            let usual = (before as f64 / windows).max(1.0);
            if (recent as f64) < f64::from(rule.factor) * usual {
                continue;
            }
            self.found(
                AlertRule::DeliverySurge,
                AlertSubject::Grant,
                grant.clone(),
                entry.actor,
                entry.dataset,
                format!(
                    "grant {grant}: {recent} deliveries in {} s, against a usual {usual:.1}",
                    rule.window_secs
                ),
                hits.iter().map(|h| h.index).collect(),
                json!({ "deliveries": recent, "usual": usual, "window_secs": rule.window_secs,
                        "factor": rule.factor }),
                rule.min_deliveries,
            )?;
        }
        Ok(())
    }

    /// One consumer asking for many datasets that hold personal information.
    fn personal_data_sweeps(&mut self, seen: &[Seen]) -> Result<()> {
        let rule = &self.rules.personal_data_sweep;
        let span = seconds(rule.window_secs);
        let mut askers = Vec::new();
        for entry in seen
            .iter()
            .filter(|e| e.action == Action::AccessRequestCreated)
        {
            if let Some(actor) = entry.actor
                && self.dataset(entry.dataset)?.is_some_and(|d| d.personal())
            {
                askers.push((actor, entry.time));
            }
        }
        for (consumer, t) in askers {
            if !self.open_to(AlertRule::PersonalDataSweep, &consumer.to_string())? {
                continue;
            }
            let (_, hits) = window::in_window(
                self.conn,
                Action::AccessRequestCreated,
                About::Actor(consumer),
                t - span,
                t,
                1_000,
            )?;
            let mut personal: BTreeMap<Uuid, Vec<u64>> = BTreeMap::new();
            for hit in hits {
                let Some(id) = hit.dataset.as_deref().and_then(|d| Uuid::parse_str(d).ok()) else {
                    continue;
                };
                if self.dataset(Some(id))?.is_some_and(|d| d.personal()) {
                    personal.entry(id).or_default().push(hit.index);
                }
            }
            if personal.len() < rule.datasets as usize {
                continue;
            }
            self.found(
                AlertRule::PersonalDataSweep,
                AlertSubject::Account,
                consumer.to_string(),
                Some(consumer),
                None,
                format!(
                    "account {consumer} asked for {} datasets holding personal information in {} s",
                    personal.len(),
                    rule.window_secs
                ),
                personal.values().flatten().copied().collect(),
                json!({ "datasets": personal.len(), "window_secs": rule.window_secs }),
                rule.datasets,
            )?;
        }
        Ok(())
    }

    /// Deliveries refused again and again on one grant, or to one account
    /// across grants and datasets (one grant's refusals are that grant's
    /// alert).
    fn refused_deliveries(&mut self, seen: &[Seen]) -> Result<()> {
        let rule = &self.rules.refused_deliveries;
        let span = seconds(rule.window_secs);
        let threshold = i64::from(rule.refusals);
        for (grant, entry) in each_by(seen, Action::DeliveryRefused, grant_of) {
            if !self.open_to(AlertRule::RefusedDeliveries, &grant)? {
                continue;
            }
            let (count, hits) = window::in_window(
                self.conn,
                Action::DeliveryRefused,
                About::Subject(&grant),
                entry.time - span,
                entry.time,
                EVIDENCE,
            )?;
            if count < threshold {
                continue;
            }
            self.found(
                AlertRule::RefusedDeliveries,
                AlertSubject::Grant,
                grant.clone(),
                entry.actor,
                entry.dataset,
                format!(
                    "grant {grant}: {count} deliveries refused in {} s",
                    rule.window_secs
                ),
                hits.iter().map(|h| h.index).collect(),
                json!({ "refusals": count, "window_secs": rule.window_secs }),
                rule.refusals,
            )?;
        }
        for (actor, entry) in each_by(seen, Action::DeliveryRefused, |e| e.actor) {
            if !self.open_to(AlertRule::RefusedDeliveries, &actor.to_string())? {
                continue;
            }
            let (count, hits) = window::in_window(
                self.conn,
                Action::DeliveryRefused,
                About::Actor(actor),
                entry.time - span,
                entry.time,
                EVIDENCE,
            )?;
            let one_grant = hits.windows(2).all(|w| w[0].subject == w[1].subject)
                && hits
                    .first()
                    .is_some_and(|h| h.dataset.as_deref() != Some(h.subject.as_str()));
            if count < threshold || one_grant {
                continue;
            }
            self.found(
                AlertRule::RefusedDeliveries,
                AlertSubject::Account,
                actor.to_string(),
                Some(actor),
                None,
                format!(
                    "account {actor}: {count} deliveries refused in {} s",
                    rule.window_secs
                ),
                hits.iter().map(|h| h.index).collect(),
                json!({ "refusals": count, "window_secs": rule.window_secs }),
                rule.refusals,
            )?;
        }
        Ok(())
    }

    /// Cross-border requests for important data to one destination above a
    /// rate.
    fn cross_border_important(&mut self, seen: &[Seen]) -> Result<()> {
        let rule = &self.rules.cross_border_important;
        let span = seconds(rule.window_secs);
        // Each request for important data abroad: where to, when, of what.
        let mut destinations: Vec<(String, Asked)> = Vec::new();
        for entry in seen
            .iter()
            .filter(|e| e.action == Action::AccessRequestCreated)
        {
            let Some(destination) = entry
                .detail
                .get("destination_country")
                .and_then(|d| d.as_str())
            else {
                continue;
            };
            if self
                .dataset(entry.dataset)?
                .is_some_and(|d| d.classification == Classification::Important)
            {
                destinations.push((destination.to_owned(), (entry.time, entry.dataset)));
            }
        }
        for (destination, (t, dataset)) in destinations {
            if !self.open_to(AlertRule::CrossBorderImportant, &destination)? {
                continue;
            }
            let (count, requests) = crate::grants::tally::cross_border_to(
                self.conn,
                &destination,
                Classification::Important,
                t - span,
                t,
                EVIDENCE,
            )?;
            if count < i64::from(rule.requests) {
                continue;
            }
            let evidence =
                window::indexes_about(self.conn, Action::AccessRequestCreated, &requests)?;
            self.found(
                AlertRule::CrossBorderImportant,
                AlertSubject::Destination,
                destination.clone(),
                None,
                dataset,
                format!(
                    "{count} cross-border requests for important data to {destination} in {} s",
                    rule.window_secs
                ),
                evidence,
                json!({ "requests": count, "window_secs": rule.window_secs }),
                rule.requests,
            )?;
        }
        Ok(())
    }

    /// A listing re-classified below what a regulator reviewed it at.
    fn downgrades(&mut self, seen: &[Seen]) -> Result<()> {
        for entry in seen.iter().filter(|e| e.action == Action::DatasetUpdated) {
            let Some(change) = entry.detail.get("classification") else {
                continue;
            };
            let class = |key: &str| {
                change
                    .get(key)
                    .and_then(|v| v.as_str())
                    .and_then(Classification::parse)
            };
            let (Some(to), Some(reviewed)) = (class("to"), class("reviewed")) else {
                continue;
            };
            if to >= reviewed {
                continue;
            }
            let Some(dataset) = entry.dataset else {
                continue;
            };
            let provider = self
                .dataset(Some(dataset))?
                .map(|d| d.provider())
                .transpose()?;
            let id = dataset.to_string();
            let (_, reviews) = window::in_window(
                self.conn,
                Action::DatasetReviewed,
                About::Subject(&id),
                DateTime::<Utc>::UNIX_EPOCH,
                entry.time,
                EVIDENCE,
            )?;
            self.found(
                AlertRule::DowngradedAfterReview,
                AlertSubject::Dataset,
                id,
                provider,
                Some(dataset),
                format!("dataset {dataset} re-classified {to} after a regulator reviewed it as {reviewed}"),
                reviews
                    .iter()
                    .map(|h| h.index)
                    .chain([entry.index])
                    .collect(),
                json!({ "from": class("from"), "to": to, "reviewed": reviewed }),
                1,
            )?;
        }
        Ok(())
    }
}
