//! Buying and selling through the pages: a listing's offers with a buy
//! button, the orders bought and sold, the wallet, and a seller's revenue
//! day by day.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::Duration;
use serde::Deserialize;
use uuid::Uuid;

use super::i18n::Tr;
use super::{Nav, done, html, member, posting, served};
use crate::domain::{self, Role};
use crate::grants::NewOrder;
use crate::market::Market;
use crate::trading::{self, OrderRole};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/offers/{id}/buy", web::post().to(buy))
        .route("/my/orders", web::get().to(my_orders))
        .route("/my/wallet", web::get().to(my_wallet));
}

/// An offer as a listing's page shows it, with what buying needs.
pub(super) struct OfferRow {
    pub id: Uuid,
    pub version: i32,
    pub price: String,
    pub terms: String,
    pub purposes: Vec<String>,
    /// A fresh Idempotency-Key per rendering: submitting the form twice
    /// (a double click, a reload) buys once.
    pub key: String,
}

pub(super) async fn offers_of(market: &Market, visit_tr: &Tr, dataset: Uuid) -> Vec<OfferRow> {
    let tr = *visit_tr;
    trading::offers::of_dataset(market, None, dataset)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|o| OfferRow {
            id: o.id,
            version: o.version,
            price: tr.money(o.price.amount, &o.price.currency),
            terms: tr.t(&format!("plan-{}", o.plan))
                + " · "
                + &tr.t1("request-terms", "days", o.term_days)
                + " · "
                + &tr.t1("request-downloads", "count", o.max_downloads),
            purposes: o.purposes,
            key: domain::new_id().to_string(),
        })
        .collect()
}

#[derive(Deserialize)]
pub struct BuyForm {
    #[serde(default)]
    csrf: String,
    version: i32,
    #[serde(default)]
    purpose: String,
    key: String,
}

/// Places an order at the offer's version the page showed, with the form's
/// Idempotency-Key.
async fn buy(
    market: web::Data<Market>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    form: web::Form<BuyForm>,
) -> HttpResponse {
    let form = form.into_inner();
    let (visit, actor) = or_answer!(posting(&req, &market, &form.csrf).await);
    let input = NewOrder {
        offer: *id,
        offer_version: Some(form.version),
        purpose: Some(form.purpose).filter(|p| !p.trim().is_empty()),
        message: None,
        // A buyer registered abroad names its legal basis through the API.
        legal_basis: None,
        personal_information_subjects: None,
    };
    let answer = crate::grants::place_order(&market, &actor, input, Some(form.key)).await;
    done(&visit, &req, answer, "/my/orders")
}

struct OrderRow {
    id: Uuid,
    dataset: Uuid,
    price: String,
    state: String,
    placed: String,
}

#[derive(Template)]
#[template(path = "portal/orders.html")]
struct OrdersPage {
    tr: Tr,
    nav: Nav,
    bought: Vec<OrderRow>,
    sold: Vec<OrderRow>,
}

async fn my_orders(market: web::Data<Market>, req: HttpRequest) -> HttpResponse {
    let (visit, actor) = or_answer!(member(&req, &market).await);
    let tr = visit.tr;
    let mut lists = Vec::new();
    for (role, wanted) in [
        (OrderRole::Bought, actor.has(Role::Consumer)),
        (OrderRole::Sold, actor.has(Role::Provider)),
    ] {
        if !wanted {
            lists.push(Vec::new());
            continue;
        }
        let page = or_answer!(served(
            &visit,
            &req,
            trading::list_orders(&market, &actor, role, 100, None).await
        ));
        lists.push(
            page.items
                .into_iter()
                .map(|o| OrderRow {
                    id: o.id,
                    dataset: o.dataset,
                    price: tr.money(o.price.amount, &o.price.currency),
                    state: tr.t(&format!("order-{}", o.state)),
                    placed: tr.datetime(&o.created_at),
                })
                .collect(),
        );
    }
    let sold = lists.pop().unwrap_or_default();
    let bought = lists.pop().unwrap_or_default();
    let page = OrdersPage {
        tr,
        nav: Nav::of(&visit, &req),
        bought,
        sold,
    };
    html(&visit, StatusCode::OK, page.render())
}

/// One day's revenue bar.
struct Bar {
    day: String,
    amount: String,
    height: i64,
    x: usize,
}

#[derive(Template)]
#[template(path = "portal/wallet.html")]
struct WalletPage {
    tr: Tr,
    nav: Nav,
    balances: Vec<String>,
    currency: String,
    bars: Vec<Bar>,
    chart_width: usize,
    total: String,
}

/// The wallet's balances, and what sales and royalties brought in over the
/// last 90 days (net of fees), in the currency that brought most, drawn day
/// by day.
async fn my_wallet(market: web::Data<Market>, req: HttpRequest) -> HttpResponse {
    let (visit, actor) = or_answer!(member(&req, &market).await);
    let tr = visit.tr;
    let wallet = or_answer!(served(&visit, &req, trading::wallet(&market, &actor).await));
    let to = domain::now();
    let statement = or_answer!(served(
        &visit,
        &req,
        trading::statement(&market, &actor, actor.id, to - Duration::days(90), to).await
    ));
    let mut by_currency: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for line in statement
        .lines
        .iter()
        .filter(|l| matches!(l.category.as_str(), "sale" | "royalty"))
    {
        let day = line.time.get(..10).unwrap_or(&line.time).to_owned();
        *by_currency
            .entry(line.currency.clone())
            .or_default()
            .entry(day)
            .or_default() += line.amount;
    }
    let (currency, days) = by_currency
        .into_iter()
        .max_by_key(|(_, days)| days.values().sum::<i64>())
        .unwrap_or_default();
    let most = days.values().copied().max().unwrap_or(0).max(1);
    let bars: Vec<Bar> = days
        .iter()
        .enumerate()
        .map(|(i, (day, amount))| Bar {
            day: day.clone(),
            amount: tr.money(*amount, &currency),
            height: amount * 100 / most,
            x: i * 14,
        })
        .collect();
    let page = WalletPage {
        tr,
        nav: Nav::of(&visit, &req),
        balances: wallet
            .balances
            .iter()
            .map(|m| tr.money(m.amount, &m.currency))
            .collect(),
        total: tr.money(days.values().sum(), &currency),
        chart_width: (bars.len() * 14).max(14),
        bars,
        currency,
    };
    html(&visit, StatusCode::OK, page.render())
}
