//! The text the client commands print for people (`--output json` prints
//! the server's JSON instead).

use serde_json::Value;

use super::session::Session;

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("-")
}

/// `9900 CNY` as `99.00 CNY` (minor units; currencies without them as is).
pub fn price(price: &Value) -> String {
    let amount = price["amount"].as_u64().unwrap_or(0);
    let currency = text(&price["currency"]);
    const NO_MINOR_UNIT: &[&str] = &["JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF"];
    if NO_MINOR_UNIT.contains(&currency) {
        format!("{amount} {currency}")
    } else {
        format!("{}.{:02} {currency}", amount / 100, amount % 100)
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
    }
}
