//! The trading commands: `offers …`, `orders …`, `wallet`, `statement` and
//! `payouts …`, over the API's trading endpoints (docs/trading.md). Money is
//! the server's integer minor units; the text for people prints it with
//! integer arithmetic only.

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use super::cli::{
    Connection, OfferTerms, OffersCommand, OrdersCommand, PayoutsCommand, PlaceArgs, StatementArgs,
    spelled,
};
use super::commands::{Printed, query, set};
use super::error::{Failure, Kind, Result};
use super::render;
use super::session::Session;

/// The header that makes a money-moving request safe to retry.
const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

pub async fn offers(connection: &Connection, command: OffersCommand) -> Result<Printed> {
    let session = Session::resolve(&connection.target())?;
    match command {
        OffersCommand::List { dataset } => {
            let list = session
                .get(&format!("/datasets/{dataset}/offers"), &[])
                .await?;
            let human = render::lines(&list, render::offer_line, "no active offers");
            Ok(Printed::new(list, human))
        }
        OffersCommand::Show { id, version } => {
            let offer = session
                .get(
                    &format!("/offers/{id}"),
                    &query(vec![("version", version.map(|v| v.to_string()))]),
                )
                .await?;
            let human = render::offer(&offer);
            Ok(Printed::new(offer, human))
        }
        OffersCommand::Create { dataset, terms } => {
            let offer = session
                .post(
                    &format!("/datasets/{dataset}/offers"),
                    Some(&offer_body(terms)),
                )
                .await?;
            let human = format!(
                "created offer {} on {dataset}:\n{}",
                offer["id"].as_str().unwrap_or("?"),
                render::offer(&offer)
            );
            Ok(Printed::new(offer, human))
        }
        OffersCommand::Revise { id, terms } => {
            let what = format!("PUT /offers/{id}");
            let offer = session
                .json(
                    &what,
                    session
                        .request(Method::PUT, &format!("/offers/{id}"))
                        .json(&offer_body(terms)),
                )
                .await?;
            let human = format!("revised offer {id}:\n{}", render::offer(&offer));
            Ok(Printed::new(offer, human))
        }
        OffersCommand::Withdraw { id } => {
            let offer = session
                .post(&format!("/offers/{id}/withdraw"), None)
                .await?;
            let human = format!("offer {id} is {}", offer["status"].as_str().unwrap_or("?"));
            Ok(Printed::new(offer, human))
        }
    }
}

/// The API's offer body (`OfferInput`) from the command line's terms.
fn offer_body(terms: OfferTerms) -> Value {
    let mut body = json!({
        "plan": spelled(terms.plan),
        "price": {"amount": terms.price, "currency": terms.currency},
        "max_downloads": terms.max_downloads,
        "purposes": terms.purposes,
        "processing": terms.processing,
        "territory": terms.territory,
        "royalty_bps": terms.royalty_bps,
        "instant": terms.instant,
    });
    set(&mut body, "term_days", terms.term_days.map(Value::from));
    set(&mut body, "period_days", terms.period_days.map(Value::from));
    set(
        &mut body,
        "covers",
        terms.covers.map(|c| Value::from(spelled(c))),
    );
    body
}

pub async fn orders(connection: &Connection, command: OrdersCommand) -> Result<Printed> {
    let session = Session::resolve(&connection.target())?;
    match command {
        OrdersCommand::Place(args) => place(&session, args).await,
        OrdersCommand::List {
            role,
            limit,
            cursor,
        } => {
            let page = session
                .get(
                    "/orders",
                    &query(vec![
                        ("role", role.map(spelled)),
                        ("limit", limit.map(|l| l.to_string())),
                        ("cursor", cursor),
                    ]),
                )
                .await?;
            let human = render::page(&page, "orders", render::order_line);
            Ok(Printed::new(page, human))
        }
        OrdersCommand::Show { id } => {
            let order = session.get(&format!("/orders/{id}"), &[]).await?;
            let human = render::order(&order);
            Ok(Printed::new(order, human))
        }
        OrdersCommand::Cancel { id } => {
            let order = session.post(&format!("/orders/{id}/cancel"), None).await?;
            let human = format!(
                "order {id} is {}; {} refunded",
                order["state"].as_str().unwrap_or("?"),
                render::price(&order["price"])
            );
            Ok(Printed::new(order, human))
        }
        OrdersCommand::Renew {
            id,
            idempotency_key,
        } => {
            let key = idempotency_key_or_new(idempotency_key)?;
            let answer =
                post_idempotent(&session, &format!("/orders/{id}/renew"), None, &key).await?;
            let human = format!("renewed {id}: {}", render::order_placed(&answer.value));
            Ok(answer.printed(human))
        }
    }
}

async fn place(session: &Session, args: PlaceArgs) -> Result<Printed> {
    let key = idempotency_key_or_new(args.idempotency_key)?;
    let mut body = json!({"offer": args.offer});
    set(
        &mut body,
        "offer_version",
        args.offer_version.map(Value::from),
    );
    set(&mut body, "purpose", args.purpose.map(Value::from));
    set(&mut body, "message", args.message.map(Value::from));
    let answer = post_idempotent(session, "/orders", Some(&body), &key).await?;
    let human = render::order_placed(&answer.value);
    Ok(answer.printed(human))
}

/// The key given, checked as the server would (1–200 printable ASCII
/// characters), or a new random one.
fn idempotency_key_or_new(given: Option<String>) -> Result<String> {
    match given {
        None => Ok(Uuid::new_v4().to_string()),
        Some(key)
            if !key.is_empty()
                && key.len() <= 200
                && key.bytes().all(|b| (0x20..=0x7e).contains(&b)) =>
        {
            Ok(key)
        }
        Some(_) => Err(Failure::usage(
            "--idempotency-key must be 1 to 200 printable ASCII characters",
        )),
    }
}

/// The answer to a request sent with an `Idempotency-Key`.
struct Idempotent {
    value: Value,
    key: String,
    /// The server answered with the first answer to this key again
    /// (`Idempotent-Replayed: true`): nothing was done or paid twice.
    replayed: bool,
}

impl Idempotent {
    /// The server's JSON with `idempotency_key` and `replayed` added; the
    /// text with the key to retry with.
    fn printed(mut self, mut human: String) -> Printed {
        human.push_str(&format!("\n  idempotency key: {}", self.key));
        if self.replayed {
            human.push_str(" (replayed: the first answer to this key; nothing was charged again)");
        }
        if let Some(object) = self.value.as_object_mut() {
            object.insert("idempotency_key".into(), Value::from(self.key));
            object.insert("replayed".into(), Value::from(self.replayed));
        }
        Printed::new(self.value, human)
    }
}

/// POSTs with an `Idempotency-Key`. When the outcome is unknown (the
/// connection broke, the server failed), the error says how to retry safely.
async fn post_idempotent(
    session: &Session,
    path: &str,
    body: Option<&Value>,
    key: &str,
) -> Result<Idempotent> {
    let what = format!("POST {path}");
    let mut request = session
        .request(Method::POST, path)
        .header(IDEMPOTENCY_KEY, key);
    if let Some(body) = body {
        request = request.json(body);
    }
    let (value, headers) = session
        .json_with_headers(&what, request)
        .await
        .map_err(|failure| match failure.kind {
            Kind::Unavailable | Kind::Other => failure.with_hint(&format!(
                "the same command with --idempotency-key {key} retries it safely"
            )),
            _ => failure,
        })?;
    let replayed = headers
        .get("idempotent-replayed")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    Ok(Idempotent {
        value,
        key: key.to_owned(),
        replayed,
    })
}

pub async fn wallet(connection: &Connection) -> Result<Printed> {
    let session = Session::resolve(&connection.target())?;
    let wallet = session.get("/wallet", &[]).await?;
    let human = render::wallet(&wallet);
    Ok(Printed::new(wallet, human))
}

pub async fn statement(args: StatementArgs) -> Result<Printed> {
    let session = Session::resolve(&args.connection.target())?;
    let account = match args.account {
        Some(account) => account.to_string(),
        None => {
            let me = session.get("/accounts/me", &[]).await?;
            me["id"]
                .as_str()
                .ok_or_else(|| Failure::other("the server's account answer has no id"))?
                .to_owned()
        }
    };
    let statement = session
        .get(
            &format!("/accounts/{account}/statement"),
            &query(vec![("from", args.from), ("to", args.to)]),
        )
        .await?;
    let human = render::statement(&statement);
    Ok(Printed::new(statement, human))
}

pub async fn payouts(connection: &Connection, command: PayoutsCommand) -> Result<Printed> {
    let session = Session::resolve(&connection.target())?;
    match command {
        PayoutsCommand::Request {
            amount,
            currency,
            idempotency_key,
        } => {
            let key = idempotency_key_or_new(idempotency_key)?;
            let body = json!({"amount": amount, "currency": currency});
            let answer = post_idempotent(&session, "/payouts", Some(&body), &key).await?;
            let human = format!("payout {}", render::payout_line(&answer.value));
            Ok(answer.printed(human))
        }
        PayoutsCommand::List { limit, cursor } => {
            let page = session
                .get(
                    "/payouts",
                    &query(vec![
                        ("limit", limit.map(|l| l.to_string())),
                        ("cursor", cursor),
                    ]),
                )
                .await?;
            let human = render::page(&page, "payouts", render::payout_line);
            Ok(Printed::new(page, human))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_are_checked_or_made() {
        let made = idempotency_key_or_new(None).unwrap_or_default();
        assert!(made.parse::<Uuid>().is_ok(), "{made}");
        assert_ne!(made, idempotency_key_or_new(None).unwrap_or_default());
        assert_eq!(
            idempotency_key_or_new(Some("order-0001".into())).ok(),
            Some("order-0001".to_owned())
        );
        let long = "x".repeat(201);
        for bad in ["", "tab\there", "日本", long.as_str()] {
            assert!(
                idempotency_key_or_new(Some(bad.to_owned())).is_err(),
                "{bad:?}"
            );
        }
    }
}
