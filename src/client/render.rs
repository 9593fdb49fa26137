//! The text the client commands print for people (`--output json` prints
//! the server's JSON instead).

use serde_json::Value;

use super::session::Session;

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("-")
}

/// `9900 CNY` as `99.00 CNY` (minor units; currencies without them as is).
pub fn price(price: &Value) -> String {
    money(
        price["amount"].as_i64().unwrap_or(0),
        text(&price["currency"]),
    )
}

/// An amount of minor units, `-9900` CNY as `-99.00 CNY`, with integer
/// arithmetic only.
pub fn money(amount: i64, currency: &str) -> String {
    const NO_MINOR_UNIT: &[&str] = &["JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF"];
    let sign = if amount < 0 { "-" } else { "" };
    let units = amount.unsigned_abs();
    if NO_MINOR_UNIT.contains(&currency) {
        format!("{sign}{units} {currency}")
    } else {
        format!("{sign}{}.{:02} {currency}", units / 100, units % 100)
    }
}

/// A change to a balance: `+99.00 CNY`, `-99.00 CNY`.
fn change(amount: i64, currency: &str) -> String {
    if amount > 0 {
        format!("+{}", money(amount, currency))
    } else {
        money(amount, currency)
    }
}

fn tags(dataset: &Value) -> String {
    dataset["tags"]
        .as_array()
        .map(|t| t.iter().map(text).collect::<Vec<_>>().join(", "))
        .unwrap_or_default()
}

pub fn account(me: &Value, session: &Session) -> String {
    let roles = me["roles"]
        .as_array()
        .map(|r| r.iter().map(text).collect::<Vec<_>>().join(", "))
        .unwrap_or_default();
    format!(
        "{} ({}) at {}, profile {:?}\nroles: {roles}\nstatus: {}",
        text(&me["name"]),
        text(&me["id"]),
        session.server,
        session.profile,
        text(&me["status"])
    )
}

pub fn dataset_line(dataset: &Value) -> String {
    format!(
        "{}  {:<14} {}  [{}]  {}",
        text(&dataset["id"]),
        text(&dataset["status"]),
        text(&dataset["title"]),
        tags(dataset),
        price(&dataset["price"])
    )
}

pub fn dataset(d: &Value) -> String {
    let mut out = format!(
        "{}\n  id:             {}\n  status:         {}\n  provider:       {}\n  classification: {}\n  personal data:  {}\n  license:        {}\n  price:          {}\n  tags:           {}\n  latest version: {}",
        text(&d["title"]),
        text(&d["id"]),
        text(&d["status"]),
        text(&d["provider"]),
        text(&d["classification"]),
        d["personal_data"],
        text(&d["license"]),
        price(&d["price"]),
        tags(d),
        d["latest_version"]
            .as_i64()
            .map(|v| v.to_string())
            .unwrap_or("-".into()),
    );
    if let Some(listed) = d["listed_at"].as_str() {
        out.push_str(&format!("\n  listed at:      {listed}"));
    }
    let description = text(&d["description"]);
    if !description.is_empty() && description != "-" {
        out.push_str(&format!("\n\n{description}"));
    }
    out
}

pub fn version_line(v: &Value) -> String {
    format!(
        "v{}  {:<14} {} bytes  {}  sha256 {}",
        v["version"],
        text(&v["status"]),
        v["size"],
        text(&v["media_type"]),
        text(&v["sha256"])
    )
}

pub fn request_line(r: &Value) -> String {
    format!(
        "{}  {:<12} dataset {}  {} days, {} downloads  {}",
        text(&r["id"]),
        text(&r["state"]),
        text(&r["dataset"]),
        r["duration_days"],
        r["max_downloads"],
        r["purpose"].as_str().unwrap_or("")
    )
}

pub fn request(r: &Value) -> String {
    let mut out = format!(
        "request {}\n  state:     {}\n  dataset:   {}\n  consumer:  {}\n  purpose:   {}\n  asks for:  {} days, {} downloads, processing {}, cross-border {}\n  expires:   {}",
        text(&r["id"]),
        text(&r["state"]),
        text(&r["dataset"]),
        text(&r["consumer"]),
        r["purpose"].as_str().unwrap_or(""),
        r["duration_days"],
        r["max_downloads"],
        r["processing"],
        r["cross_border"],
        text(&r["expires_at"]),
    );
    if let Some(grant) = r["grant"].as_str() {
        out.push_str(&format!("\n  grant:     {grant}"));
    }
    out
}

pub fn grant_line(g: &Value) -> String {
    format!(
        "{}  {:<9} dataset {}  downloads {} used, {} left  until {}",
        text(&g["id"]),
        text(&g["status"]),
        text(&g["dataset"]),
        g["downloads_used"],
        g["downloads_remaining"],
        text(&g["policy"]["not_after"])
    )
}

pub fn grant(g: &Value) -> String {
    let mut out = format!(
        "grant {}\n  status:    {}\n  dataset:   {}\n  licensor:  {}\n  licensee:  {}\n  downloads: {} used, {} left\n  window:    {} to {}\n  purposes:  {}\n  territory: {}\n  processing: {}",
        text(&g["id"]),
        text(&g["status"]),
        text(&g["dataset"]),
        text(&g["licensor"]),
        text(&g["licensee"]),
        g["downloads_used"],
        g["downloads_remaining"],
        text(&g["policy"]["not_before"]),
        text(&g["policy"]["not_after"]),
        g["policy"]["purposes"]
            .as_array()
            .map(|p| p.iter().map(text).collect::<Vec<_>>().join("; "))
            .unwrap_or_default(),
        g["policy"]["territory"]
            .as_array()
            .map(|p| p.iter().map(text).collect::<Vec<_>>().join(", "))
            .unwrap_or_default(),
        g["policy"]["processing"],
    );
    if let Some(version) = g["policy"]["version"].as_i64() {
        out.push_str(&format!("\n  version:   {version}"));
    }
    if g["revocation"].is_object() {
        out.push_str(&format!(
            "\n  revoked:   {} by {}: {}",
            text(&g["revocation"]["at"]),
            text(&g["revocation"]["by"]),
            g["revocation"]["reason"].as_str().unwrap_or("")
        ));
    }
    out
}

pub fn rights(r: &Value) -> String {
    let mut out = format!("rights over {}\n", text(&r["dataset"]));
    for right in r["current"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {:<10} held by {} ({} since {}), registration {}",
            text(&right["right"]),
            text(&right["holder"]),
            text(&right["origin"]),
            text(&right["since"]),
            text(&right["registration"])
        ));
        if let Some(until) = right["until"].as_str() {
            out.push_str(&format!(", until {until}"));
        }
        out.push('\n');
    }
    let history = r["history"].as_array().map(Vec::len).unwrap_or(0);
    out.push_str(&format!(
        "{history} registration(s) in the history (--output json)"
    ));
    out
}

pub fn certificate(c: &Value) -> String {
    let claims = &c["claims"];
    format!(
        "certificate {} ({})\n  the platform certifies that {} holds the {} right over dataset {} ({} since {})\n  jws: {}",
        text(&c["id"]),
        text(&c["status"]),
        text(&claims["holder"]),
        text(&claims["right"]),
        text(&claims["dataset"]),
        text(&claims["origin"]),
        text(&claims["issued_at"]),
        text(&c["jws"])
    )
}

pub fn lineage(g: &Value) -> String {
    let mut out = format!(
        "lineage of {} ({}, depth {})\n",
        text(&g["root"]),
        text(&g["direction"]),
        g["depth"]
    );
    for node in g["nodes"].as_array().into_iter().flatten() {
        if node["restricted"] == true {
            out.push_str(&format!(
                "  [{}] {} (restricted)\n",
                node["depth"],
                text(&node["id"])
            ));
        } else {
            out.push_str(&format!(
                "  [{}] {}  {}  {}\n",
                node["depth"],
                text(&node["id"]),
                text(&node["status"]),
                node["title"].as_str().unwrap_or("")
            ));
        }
    }
    for edge in g["edges"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {} <- {} v{}\n",
            text(&edge["derived"]),
            text(&edge["source"]),
            edge["version"]
        ));
    }
    if g["truncated"] == true {
        out.push_str("  (truncated)\n");
    }
    out
}

fn list(value: &Value, separator: &str) -> String {
    value
        .as_array()
        .map(|p| p.iter().map(text).collect::<Vec<_>>().join(separator))
        .filter(|joined| !joined.is_empty())
        .unwrap_or_else(|| "-".into())
}

/// What an offer's price is for: once, per period, per download.
fn per(o: &Value) -> String {
    match o["plan"].as_str() {
        Some("subscription") => format!(" per {} days", o["period_days"]),
        Some("metered") => " per download".into(),
        _ => String::new(),
    }
}

pub fn offer_line(o: &Value) -> String {
    format!(
        "{}  {:<9} v{}  {:<12} {}{}  {} downloads{}",
        text(&o["id"]),
        text(&o["status"]),
        o["version"],
        text(&o["plan"]),
        price(&o["price"]),
        per(o),
        o["max_downloads"],
        if o["instant"] == true {
            ", instant"
        } else {
            ""
        }
    )
}

pub fn offer(o: &Value) -> String {
    let mut out = format!(
        "offer {} (version {} of {})\n  status:     {}\n  dataset:    {}\n  plan:       {}\n  price:      {}{}\n  downloads:  {}",
        text(&o["id"]),
        o["version"],
        o["current_version"],
        text(&o["status"]),
        text(&o["dataset"]),
        text(&o["plan"]),
        price(&o["price"]),
        per(o),
        o["max_downloads"],
    );
    if o["plan"] != "subscription" {
        out.push_str(&format!("\n  term:       {} days", o["term_days"]));
    }
    if o["plan"] == "one_off" {
        out.push_str(&format!("\n  covers:     {}", text(&o["covers"])));
    }
    out.push_str(&format!(
        "\n  purposes:   {}\n  processing: {}\n  territory:  {}\n  royalty:    {} bps\n  instant:    {}",
        list(&o["purposes"], "; "),
        o["processing"],
        list(&o["territory"], ", "),
        o["royalty_bps"],
        o["instant"],
    ));
    out
}

pub fn order_line(o: &Value) -> String {
    format!(
        "{}  {:<9} {}  dataset {}  grant {}",
        text(&o["id"]),
        text(&o["state"]),
        price(&o["price"]),
        text(&o["dataset"]),
        text(&o["grant"])
    )
}

pub fn order(o: &Value) -> String {
    let mut out = format!(
        "order {}\n  state:   {}\n  price:   {}\n  offer:   {} (version {})\n  dataset: {}\n  buyer:   {}\n  seller:  {}\n  placed:  {}",
        text(&o["id"]),
        text(&o["state"]),
        price(&o["price"]),
        text(&o["offer"]),
        o["offer_version"],
        text(&o["dataset"]),
        text(&o["buyer"]),
        text(&o["seller"]),
        text(&o["created_at"]),
    );
    for (label, key) in [
        ("request", "request"),
        ("grant", "grant"),
        ("renews", "renewal_of"),
    ] {
        if let Some(id) = o[key].as_str() {
            out.push_str(&format!(
                "\n  {label}:{:width$}{id}",
                "",
                width = 8 - label.len()
            ));
        }
    }
    out
}

/// A new order in a sentence: what it cost, and the grant or what it waits
/// for.
pub fn order_placed(o: &Value) -> String {
    let mut out = format!(
        "order {} is {}: {} under offer {} (version {})",
        text(&o["id"]),
        text(&o["state"]),
        price(&o["price"]),
        text(&o["offer"]),
        o["offer_version"],
    );
    match (o["grant"].as_str(), o["request"].as_str()) {
        (Some(grant), _) => out.push_str(&format!("\n  grant: {grant}")),
        (None, Some(request)) => out.push_str(&format!(
            "\n  waiting for the provider: access request {request}"
        )),
        (None, None) => {}
    }
    out
}

pub fn wallet(w: &Value) -> String {
    let mut out = format!("wallet of {}", text(&w["account"]));
    let balances = w["balances"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if balances.is_empty() {
        out.push_str("\n  empty");
    }
    for balance in balances {
        out.push_str(&format!("\n  {}", price(balance)));
    }
    out
}

pub fn statement(s: &Value) -> String {
    let mut out = format!(
        "statement of {} from {} to {}",
        text(&s["account"]),
        text(&s["from"]),
        text(&s["to"])
    );
    let lines = s["lines"].as_array().map(Vec::as_slice).unwrap_or_default();
    if lines.is_empty() {
        out.push_str("\n  no entries");
    }
    for line in lines {
        let currency = text(&line["currency"]);
        out.push_str(&format!(
            "\n  {}  {:<15} {:>16}",
            text(&line["time"]),
            text(&line["category"]),
            change(line["amount"].as_i64().unwrap_or(0), currency),
        ));
        if let Some(order) = line["order"].as_str() {
            out.push_str(&format!("  order {order}"));
        }
        if let Some(gross) = line["gross"].as_i64() {
            out.push_str(&format!(
                "  (gross {}, fee {}, royalties out {})",
                money(gross, currency),
                money(line["fee"].as_i64().unwrap_or(0), currency),
                money(line["royalties_out"].as_i64().unwrap_or(0), currency)
            ));
        }
        if let (Some(sold), Some(source)) = (
            line["sold_dataset"].as_str(),
            line["source_dataset"].as_str(),
        ) {
            out.push_str(&format!("  ({sold} sold, from your {source})"));
        }
    }
    for t in s["totals"].as_array().into_iter().flatten() {
        let c = text(&t["currency"]);
        let amount = |key: &str| money(t[key].as_i64().unwrap_or(0), c);
        out.push_str(&format!(
            "\n{c}: purchases {}, refunds {}, sales {} (gross {}, fees {}, royalties out {}), royalties in {}, deposits {}, payouts {}; closing balance {}",
            amount("purchases"),
            amount("refunds"),
            amount("sales_net"),
            amount("sales_gross"),
            amount("fees"),
            amount("royalties_out"),
            amount("royalties_in"),
            amount("deposits"),
            amount("payouts"),
            amount("closing_balance"),
        ));
    }
    if let Some(at) = s["truncated_at"].as_str() {
        out.push_str(&format!("\n(truncated: continue with --from {at})"));
    }
    out
}

pub fn payout_line(p: &Value) -> String {
    let mut out = format!(
        "{}  {:<9} {}  asked {}",
        text(&p["id"]),
        text(&p["state"]),
        money(p["amount"].as_i64().unwrap_or(0), text(&p["currency"])),
        text(&p["created_at"])
    );
    if let Some(reason) = p["reason"].as_str() {
        out.push_str(&format!("  ({reason})"));
    }
    out
}

/// The items of a list, one line each, or `empty`.
pub fn lines(list: &Value, line: fn(&Value) -> String, empty: &str) -> String {
    let items = list.as_array().map(Vec::as_slice).unwrap_or_default();
    if items.is_empty() {
        return empty.to_owned();
    }
    items.iter().map(line).collect::<Vec<_>>().join("\n")
}

/// A page of a list, and how to get the next one.
pub fn page(page: &Value, what: &str, line: fn(&Value) -> String) -> String {
    let mut out = lines(&page["items"], line, &format!("no {what}"));
    if let Some(cursor) = page["next_cursor"].as_str() {
        out.push_str(&format!("\n(more: --cursor {cursor})"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prices_in_minor_units() {
        assert_eq!(
            price(&json!({"amount": 9900, "currency": "CNY"})),
            "99.00 CNY"
        );
        assert_eq!(price(&json!({"amount": 5, "currency": "CNY"})), "0.05 CNY");
        assert_eq!(price(&json!({"amount": 500, "currency": "JPY"})), "500 JPY");
        assert_eq!(money(-9905, "CNY"), "-99.05 CNY");
        assert_eq!(change(9905, "CNY"), "+99.05 CNY");
        assert_eq!(money(i64::MIN, "JPY"), "-9223372036854775808 JPY");
    }
}
