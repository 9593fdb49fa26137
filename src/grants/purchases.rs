//! Buying access: an order for an offer is an access request whose terms
//! are the offer's, paid for up front (or per download, for metered
//! offers). An instant offer is approved by the offer itself, at once; any
//! other waits for the provider like any request, and a cross-border one
//! that the law says needs review waits for a regulator as well. When the
//! request becomes a grant the order is fulfilled and settled; when it is
//! rejected, withdrawn or expires, the order is refunded — in the same
//! transaction as the decision.

use chrono::{Duration, NaiveDateTime};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::cross_border::{self, Transfer};
use super::licences::load_grant;
use super::requests::{NewRow, approve_in, insert_request, load_request, withdraw_in};
use super::rows::{GrantRow, RequestRow};
use super::types::{LegalBasis, PolicyOverride};
use crate::access;
use crate::audit::Recorded;
use crate::catalog::{self, DatasetRow};
use crate::config::CrossBorderSettings;
use crate::domain::text::{Message, Purpose};
use crate::domain::{self, Actor, DatasetStatus, Role};
use crate::error::{Code, Error, Result};
use crate::market::Market;
use crate::store::{DbConnection, lock_row};
use crate::trading::idempotency::{Answer, Keyed};
use crate::trading::offers::{self, Covers, OfferStatus, Plan, Terms};
use crate::trading::orders::{self, Closing, Order, OrderState};

#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    pub offer: Uuid,
    /// The offer's version the buyer read. If the offer has been revised
    /// since, the order is refused (409) rather than buying other terms.
    #[serde(default)]
    pub offer_version: Option<i32>,
    /// What the data is for: one of the offer's purposes when it names
    /// any; required for personal data.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub purpose: Option<String>,
    /// A note to the provider (offers that need approval).
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub message: Option<String>,
    /// What the transfer abroad rests on: required when the buyer is
    /// registered outside the home territory (the order is cross-border
    /// then), refused otherwise; as for an access request.
    // Left out of the body when absent, so that an idempotency key keeps
    // matching a body sent before these fields existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_basis: Option<LegalBasis>,
    /// How many individuals' personal information would leave; with, and
    /// only with, `legal_basis`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub personal_information_subjects: Option<u64>,
}

/// What placing an order needs from the settings.
#[derive(Clone)]
struct Rules {
    home: String,
    ttl: Duration,
    fee_bps: u32,
    cross_border: CrossBorderSettings,
}

impl Rules {
    fn of(market: &Market) -> Rules {
        let limits = &market.settings.grants;
        Rules {
            home: market.settings.catalog.home_territory.clone(),
            ttl: Duration::seconds(i64::try_from(limits.request_ttl_secs).unwrap_or(i64::MAX / 2)),
            fee_bps: market.settings.trading.platform_fee_bps,
            cross_border: limits.cross_border.clone(),
        }
    }
}

/// What the buyer says with an order: what the data is for, a note, and,
/// for data going abroad, its legal basis and how many individuals'
/// personal information would leave.
struct Asking<'a> {
    purpose: &'a Purpose,
    message: Option<&'a Message>,
    legal_basis: Option<LegalBasis>,
    subjects: Option<u64>,
}

/// A renewal: the order renewed, and when the period it paid for ends.
struct Renewal {
    of: Uuid,
    ends: NaiveDateTime,
}

/// Places an order: pays for it (or refuses for want of funds) and, for an
/// instant offer, issues the grant and settles at once. With an
/// `Idempotency-Key`, a retry gets the first order back and pays nothing.
pub async fn place_order(
    market: &Market,
    actor: &Actor,
    input: NewOrder,
    key: Option<String>,
) -> Result<Answer<Order>> {
    let keyed = Keyed::new(
        key.as_deref(),
        "POST /orders",
        &serde_json::to_value(&input).map_err(|e| Error::Internal(e.to_string()))?,
    )?;
    let purpose = Purpose::parse("purpose", input.purpose.as_deref().unwrap_or_default())?;
    let message = Message::parse_optional("message", input.message.as_deref())?;
    let rules = Rules::of(market);
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            keyed.once(conn, actor.id, 201, &mut |conn| {
                actor.require_any(&[Role::Consumer])?;
                let (terms, _) = offers::terms(conn, Some(&actor), input.offer, None)?;
                if let Some(read) = input.offer_version
                    && read != terms.version
                {
                    return Err(Error::refused(
                        Code::InvalidState,
                        format!(
                            "the offer was revised after version {read}: read version {} and order again",
                            terms.version
                        ),
                    )
                    .with("current_version", terms.version));
                }
                let asking = Asking {
                    purpose: &purpose,
                    message: message.as_ref(),
                    legal_basis: input.legal_basis,
                    subjects: input.personal_information_subjects,
                };
                place_in(conn, &actor, &terms, None, asking, &rules)
            })
        })
        .await
}

/// Renews a subscription for another period, at the offer's current terms,
/// starting when the renewed period ends (or now, if it has ended).
pub async fn renew_order(
    market: &Market,
    actor: &Actor,
    id: Uuid,
    key: Option<String>,
) -> Result<Answer<Order>> {
    let keyed = Keyed::new(
        key.as_deref(),
        "POST /orders/renew",
        &serde_json::json!({ "order": id }),
    )?;
    let rules = Rules::of(market);
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            keyed.once(conn, actor.id, 201, &mut |conn| {
                lock_row!(conn, orders, id.to_string());
                let row = orders::load_visible(conn, &actor, id)?;
                if row.buyer()? != actor.id {
                    return Err(Error::refused(
                        Code::NotPermitted,
                        "only the buyer renews an order",
                    ));
                }
                let bought = orders::terms_of(conn, id)?;
                if bought.plan != Plan::Subscription || row.state()? != OrderState::Settled {
                    return Err(Error::refused(
                        Code::InvalidState,
                        "only a settled subscription is renewed",
                    )
                    .with("current_state", row.state.as_str()));
                }
                if orders::renewed(conn, id)? {
                    return Err(Error::refused(
                        Code::InvalidState,
                        "this subscription was renewed already: renew the latest renewal",
                    ));
                }
                let grant = row
                    .grant_id
                    .as_deref()
                    .map(|g| load_grant(conn, g))
                    .transpose()?
                    .flatten()
                    .ok_or_else(|| Error::Internal("a settled subscription has no grant".into()))?;
                let (terms, _) = offers::terms(conn, Some(&actor), bought.offer, None)?;
                if terms.plan != Plan::Subscription {
                    return Err(Error::refused(
                        Code::InvalidState,
                        "the offer is no longer a subscription: place a new order",
                    ));
                }
                let request = load_request(conn, domain::id_from_db(&grant.request_id)?)?
                    .ok_or_else(|| Error::Internal("a grant without its request".into()))?;
                let purpose = Purpose::parse("purpose", &request.purpose)?;
                // A renewal goes abroad on the basis the renewed order named.
                let asking = Asking {
                    purpose: &purpose,
                    message: None,
                    legal_basis: request.legal_basis,
                    subjects: request
                        .personal_information_subjects
                        .map(|n| n.max(0) as u64),
                };
                place_in(
                    conn,
                    &actor,
                    &terms,
                    Some(Renewal {
                        of: id,
                        ends: grant.not_after,
                    }),
                    asking,
                    &rules,
                )
            })
        })
        .await
}

fn place_in(
    conn: &mut DbConnection,
    actor: &Actor,
    terms: &Terms,
    renewal: Option<Renewal>,
    asking: Asking,
    rules: &Rules,
) -> Result<Recorded<Order>> {
    let Asking {
        purpose,
        message,
        legal_basis,
        subjects,
    } = asking;
    actor.require_any(&[Role::Consumer])?;
    if terms.status != OfferStatus::Active {
        return Err(Error::refused(Code::InvalidState, "the offer is withdrawn")
            .with("current_status", terms.status.as_str()));
    }
    let dataset: DatasetRow =
        catalog::load(conn, terms.dataset)?.ok_or_else(|| Error::not_found("offer"))?;
    if dataset.status != DatasetStatus::Listed {
        return Err(Error::refused(
            Code::InvalidState,
            format!(
                "the dataset is {}: only a listed dataset is sold",
                dataset.status
            ),
        ));
    }
    if access::may_decide(conn, actor, terms.dataset)? {
        return Err(Error::invalid(
            "offer",
            "you already hold rights over this dataset",
        ));
    }
    if !terms.purposes.is_empty() && !terms.purposes.iter().any(|p| p == purpose.as_str()) {
        return Err(Error::invalid(
            "purpose",
            format!(
                "must be one of the offer's purposes: {}",
                terms.purposes.join(", ")
            ),
        ));
    }
    if dataset.personal_data && purpose.as_str().is_empty() {
        return Err(Error::refused(
            Code::PurposeRequired,
            "this dataset holds personal data: state the purpose of the processing",
        ));
    }
    // Where the data would go is where the buyer is registered.
    let registered = crate::accounts::find(conn, actor.id)?;
    super::requests::require_verified_for(&registered, &dataset)?;
    let territory = registered.territory_or(&rules.home).to_owned();
    let destination = if territory == rules.home {
        None
    } else if terms.territory.contains(&territory) {
        Some(territory.clone())
    } else {
        return Err(Error::refused(
            Code::NotPermitted,
            format!("the offer does not licence delivery to {territory}, where you are registered"),
        ));
    };
    let stated = cross_border::stated(
        destination.is_some(),
        &format!("is required: you are registered in {territory}, so the data would go abroad"),
        "is only for cross-border orders, from buyers registered abroad",
        legal_basis,
        subjects,
    )?;
    let transfer = destination
        .clone()
        .zip(stated)
        .map(|(to, (basis, subjects))| {
            Transfer::admit(&dataset, to, basis, subjects, &rules.cross_border)
        })
        .transpose()?;
    let seller = dataset.provider()?;
    // Nothing is sold under a freeze.
    access::freezes::check(
        conn,
        &access::freezes::Probe {
            dataset: Some(terms.dataset),
            accounts: vec![actor.id, seller],
            classification: Some(dataset.classification),
            destination: destination.clone(),
        },
    )?;
    let now = domain::now();
    let (duration_days, not_after) = match (&renewal, terms.plan) {
        (Some(renewal), _) => {
            let starts = domain::from_db_time(renewal.ends).max(now);
            let ends =
                starts + Duration::days(i64::from(terms.period_days.unwrap_or(terms.term_days)));
            let days = (ends - now).num_seconds().div_euclid(86_400) + 1;
            (u32::try_from(days).unwrap_or(u32::MAX), Some(ends))
        }
        (None, Plan::Subscription) => (terms.period_days.unwrap_or(terms.term_days), None),
        (None, _) => (terms.term_days, None),
    };
    let version = match terms.covers {
        Covers::LatestVersion => catalog::latest_version(conn, terms.dataset)?,
        Covers::AllVersions => None,
    };
    let policy = PolicyOverride {
        not_after,
        version,
        ..PolicyOverride::default()
    };
    let (order, mut indexes) =
        orders::place(conn, actor, terms, seller, renewal.as_ref().map(|r| r.of))?;
    let order_id = order.uuid()?;
    let (mut request, index) = insert_request(
        conn,
        NewRow {
            dataset: &dataset,
            consumer: actor.id,
            purpose: purpose.as_str(),
            duration_days,
            max_downloads: terms.max_downloads,
            processing: terms.processing,
            transfer,
            message: message.map(Message::as_str),
            ttl: rules.ttl,
            order: Some(order_id),
            policy: Some(policy.clone()),
        },
    )?;
    indexes.push(index);
    orders::attach_request(conn, order_id, domain::id_from_db(&request.id)?)?;
    if terms.instant {
        // The offer is the provider's standing approval.
        indexes.extend(approve_in(
            conn,
            seller,
            &mut request,
            &dataset,
            &policy,
            &rules.home,
            rules.fee_bps,
        )?);
    }
    Ok(Recorded::new(
        orders::load(conn, order_id)?.to_order()?,
        indexes,
    ))
}

/// The buyer cancels an order nobody has decided yet: its request is
/// withdrawn and the price refunded.
pub async fn cancel_order(market: &Market, actor: &Actor, id: Uuid) -> Result<Recorded<Order>> {
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            let row = orders::load_visible(conn, &actor, id)?;
            if row.buyer()? != actor.id {
                return Err(Error::refused(Code::NotPermitted, "only the buyer cancels an order"));
            }
            let mut request: RequestRow = row
                .request_id
                .as_deref()
                .map(|r| load_request(conn, domain::id_from_db(r)?))
                .transpose()?
                .flatten()
                .ok_or_else(|| {
                    Error::refused(
                        Code::InvalidState,
                        format!("cannot cancel an order that is {}", row.state),
                    )
                    .with("current_state", row.state.as_str())
                })?;
            let dataset = catalog::load(conn, request.dataset()?)?
                .ok_or_else(|| Error::not_found("dataset"))?;
            let indexes = withdraw_in(conn, &actor, &mut request, &dataset).map_err(|e| {
                if e.code() == Code::InvalidState {
                    Error::refused(
                        Code::InvalidState,
                        format!(
                            "cannot cancel an order whose request is {}: it is decided or with a regulator",
                            request.state
                        ),
                    )
                    .with("current_state", row.state.as_str())
                } else {
                    e
                }
            })?;
            Ok(Recorded::new(orders::load(conn, id)?.to_order()?, indexes))
        })
        .await
}

/// The grant a request's approval made fulfils the order it carries, and
/// the order is settled.
pub(super) fn fulfil_order(
    conn: &mut DbConnection,
    request: &RequestRow,
    grant: Uuid,
    actor: Uuid,
    fee_bps: u32,
) -> Result<Vec<u64>> {
    let Some(order) = request.order_id.as_deref() else {
        return Ok(vec![]);
    };
    let order = domain::id_from_db(order)?;
    let (_, index) = orders::fulfil(conn, Some(actor), order, grant)?;
    let mut indexes = vec![index];
    indexes.extend(orders::settle(conn, order, fee_bps)?);
    Ok(indexes)
}

/// A request that ends without a grant closes its order and refunds it.
pub(super) fn close_order(
    conn: &mut DbConnection,
    request: &RequestRow,
    actor: Option<Uuid>,
    closing: Closing,
) -> Result<Vec<u64>> {
    match request.order_id.as_deref() {
        None => Ok(vec![]),
        Some(order) => {
            Ok(
                orders::close_and_refund(conn, actor, domain::id_from_db(order)?, closing)?
                    .unwrap_or_default(),
            )
        }
    }
}

/// A download under a metered order's grant is charged as it is counted,
/// in the delivery's transaction: `None` when there is nothing to charge;
/// an `insufficient-funds` refusal (before anything is written to the log)
/// when the buyer cannot pay.
pub(super) fn charge_metered(
    conn: &mut DbConnection,
    grant: &GrantRow,
    fee_bps: u32,
) -> Result<Option<u64>> {
    let Some(order) = grant.order_id.as_deref() else {
        return Ok(None);
    };
    let order = domain::id_from_db(order)?;
    if orders::terms_of(conn, order)?.plan != Plan::Metered {
        return Ok(None);
    }
    orders::charge_download(conn, order, fee_bps)
}
