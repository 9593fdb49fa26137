//! The portal's two languages: every string comes from a Fluent message
//! catalog (`locales/<lang>/portal.ftl`, compiled into the binary), and
//! dates, numbers and money are written the way each locale writes them.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};

/// A language the portal speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Locale {
    ZhCn,
    En,
}

impl Locale {
    pub const ALL: [Locale; 2] = [Locale::ZhCn, Locale::En];

    /// The BCP 47 tag, as `<html lang>` and the language cookie carry it.
    pub fn tag(self) -> &'static str {
        match self {
            Locale::ZhCn => "zh-CN",
            Locale::En => "en",
        }
    }

    pub fn from_tag(tag: &str) -> Option<Locale> {
        let tag = tag.trim().to_ascii_lowercase();
        if tag == "zh" || tag.starts_with("zh-") {
            Some(Locale::ZhCn)
        } else if tag == "en" || tag.starts_with("en-") {
            Some(Locale::En)
        } else {
            None
        }
    }

    /// The first language of an `Accept-Language` header the portal
    /// speaks, by the client's weights; Chinese when it names none.
    pub fn negotiate(accept_language: Option<&str>) -> Locale {
        let mut wanted: Vec<(f32, Locale)> = accept_language
            .unwrap_or("")
            .split(',')
            .filter_map(|part| {
                let mut pieces = part.split(';');
                let locale = Locale::from_tag(pieces.next()?)?;
                let weight = pieces
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .unwrap_or(1.0);
                (weight > 0.0).then_some((weight, locale))
            })
            .collect();
        // Stable: of equal weights, the one named first.
        wanted.sort_by(|a, b| b.0.total_cmp(&a.0));
        wanted.first().map_or(Locale::ZhCn, |(_, l)| *l)
    }

    fn source(self) -> &'static str {
        match self {
            Locale::ZhCn => include_str!("../../../locales/zh-CN/portal.ftl"),
            Locale::En => include_str!("../../../locales/en/portal.ftl"),
        }
    }
}

type Bundle = FluentBundle<FluentResource>;

fn bundle(locale: Locale) -> &'static Bundle {
    static BUNDLES: OnceLock<[Bundle; 2]> = OnceLock::new();
    let bundles = BUNDLES.get_or_init(|| Locale::ALL.map(build));
    &bundles[match locale {
        Locale::ZhCn => 0,
        Locale::En => 1,
    }]
}

/// A catalog that does not parse is a defect of the build, which the unit
/// tests below catch before it ships.
fn build(locale: Locale) -> Bundle {
    let resource = FluentResource::try_new(locale.source().to_owned())
        .unwrap_or_else(|(resource, _)| resource);
    let tag = locale.tag().parse().unwrap_or_default();
    let mut bundle = FluentBundle::new_concurrent(vec![tag]);
    // The marks Fluent puts around arguments would show in titles and
    // tests compare text; the portal's arguments are plain left-to-right.
    bundle.set_use_isolating(false);
    let _ = bundle.add_resource(resource);
    bundle
}

/// The strings and formats of one language, as a page renders them.
#[derive(Clone, Copy, Debug)]
pub struct Tr {
    pub locale: Locale,
}

impl Tr {
    pub fn lang(&self) -> &'static str {
        self.locale.tag()
    }

    /// A message; its key when the catalog lacks it (which a test forbids).
    pub fn t(&self, key: &str) -> String {
        self.format(key, None)
    }

    /// A message with one argument.
    pub fn t1(&self, key: &str, name: &str, value: impl Into<FluentValue<'static>>) -> String {
        let mut args = FluentArgs::new();
        args.set(name.to_owned(), value.into());
        self.format(key, Some(&args))
    }

    fn format(&self, key: &str, args: Option<&FluentArgs>) -> String {
        let bundle = bundle(self.locale);
        let Some(pattern) = bundle.get_message(key).and_then(|m| m.value()) else {
            return key.to_owned();
        };
        let mut errors = Vec::new();
        bundle
            .format_pattern(pattern, args, &mut errors)
            .into_owned()
    }

    /// An instant, in UTC, as the locale writes it.
    pub fn datetime(&self, at: &DateTime<Utc>) -> String {
        match self.locale {
            Locale::ZhCn => at.format("%Y年%-m月%-d日 %H:%M UTC").to_string(),
            Locale::En => at.format("%-d %b %Y, %H:%M UTC").to_string(),
        }
    }

    /// A whole number with thousands separators.
    pub fn number(&self, n: u64) -> String {
        let digits = n.to_string();
        let mut out = String::with_capacity(digits.len() + digits.len() / 3);
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    }

    /// An amount in minor units of `currency`, as the locale writes money.
    pub fn money(&self, amount: i64, currency: &str) -> String {
        // ISO 4217 currencies without a minor unit; the rest have two.
        let exponent = if matches!(currency, "JPY" | "KRW" | "VND" | "ISK" | "CLP") {
            0
        } else {
            2
        };
        let sign = if amount < 0 { "-" } else { "" };
        let abs = amount.unsigned_abs();
        let value = if exponent == 0 {
            self.number(abs)
        } else {
            format!("{}.{:02}", self.number(abs / 100), abs % 100)
        };
        match (self.locale, currency) {
            (Locale::ZhCn, "CNY") => format!("{sign}¥{value}"),
            (Locale::En, "CNY") => format!("{sign}CN¥{value}"),
            (_, "USD") => format!("{sign}US${value}"),
            (_, "EUR") => format!("{sign}€{value}"),
            _ => format!("{sign}{value} {currency}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(locale: Locale) -> Vec<String> {
        let resource = FluentResource::try_new(locale.source().to_owned())
            .unwrap_or_else(|(_, errors)| panic!("{} does not parse: {errors:?}", locale.tag()));
        let mut keys: Vec<String> = resource
            .entries()
            .filter_map(|e| match e {
                fluent_syntax::ast::Entry::Message(m) => Some(m.id.name.to_owned()),
                _ => None,
            })
            .collect();
        keys.sort();
        keys
    }

    #[test]
    fn both_catalogs_parse_and_name_the_same_messages() {
        assert_eq!(keys(Locale::ZhCn), keys(Locale::En));
        assert!(keys(Locale::En).len() > 40);
    }

    #[test]
    fn every_market_word_a_page_shows_has_its_message() {
        use crate::catalog::VersionStatus;
        use crate::domain::jurisdiction::Sector;
        use crate::domain::{Classification, DatasetStatus, RightKind};
        let mut wanted: Vec<String> = Vec::new();
        wanted.extend(
            Classification::ALL
                .iter()
                .map(|c| format!("classification-{c}")),
        );
        wanted.extend(DatasetStatus::ALL.iter().map(|s| format!("status-{s}")));
        wanted.extend(VersionStatus::ALL.iter().map(|s| format!("version-{s}")));
        wanted.extend(Sector::ALL.iter().map(|s| format!("sector-{s}")));
        wanted.extend(RightKind::ALL.iter().map(|r| format!("right-{r}")));
        wanted.extend(
            crate::grants::RequestState::ALL
                .iter()
                .map(|s| format!("request-{s}")),
        );
        wanted.extend(
            crate::grants::GrantStatus::ALL
                .iter()
                .map(|s| format!("grant-{s}")),
        );
        use crate::supervision::alerts::{AlertRule, AlertState};
        wanted.extend(AlertRule::ALL.iter().map(|r| format!("alert-{r}")));
        wanted.extend(
            crate::access::certificate::CertificateState::ALL
                .iter()
                .map(|s| format!("certificate-{s}")),
        );
        wanted.extend(
            crate::trading::OrderState::ALL
                .iter()
                .map(|s| format!("order-{s}")),
        );
        wanted.extend(
            crate::trading::Plan::ALL
                .iter()
                .map(|p| format!("plan-{p}")),
        );
        wanted.extend(
            crate::catalog::SearchOrder::ALL
                .iter()
                .map(|s| format!("sort-{s}")),
        );
        wanted.extend(AlertState::ALL.iter().map(|s| format!("alert-state-{s}")));
        wanted.extend(
            crate::access::freezes::FreezeScope::ALL
                .iter()
                .map(|s| format!("freeze-{s}")),
        );
        for locale in Locale::ALL {
            let have = keys(locale);
            for key in &wanted {
                assert!(have.contains(key), "{} lacks {key}", locale.tag());
            }
        }
    }

    #[test]
    fn the_language_is_the_clients_first_that_the_portal_speaks() {
        assert_eq!(Locale::negotiate(None), Locale::ZhCn);
        assert_eq!(Locale::negotiate(Some("en-GB,en;q=0.9")), Locale::En);
        assert_eq!(
            Locale::negotiate(Some("fr, en;q=0.5, zh;q=0.8")),
            Locale::ZhCn
        );
        assert_eq!(Locale::negotiate(Some("de")), Locale::ZhCn);
        assert_eq!(Locale::negotiate(Some("zh-TW;q=0, en;q=0.1")), Locale::En);
    }

    #[test]
    fn money_numbers_and_dates_per_locale() {
        let zh = Tr {
            locale: Locale::ZhCn,
        };
        let en = Tr { locale: Locale::En };
        assert_eq!(zh.money(990_000, "CNY"), "¥9,900.00");
        assert_eq!(en.money(990_000, "CNY"), "CN¥9,900.00");
        assert_eq!(en.money(1500, "JPY"), "1,500 JPY");
        assert_eq!(en.number(1_234_567), "1,234,567");
        let at = DateTime::parse_from_rfc3339("2026-11-29T08:05:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(zh.datetime(&at), "2026年11月29日 08:05 UTC");
        assert_eq!(en.datetime(&at), "29 Nov 2026, 08:05 UTC");
        assert_eq!(
            en.t1("results-count", "count", 1),
            "One dataset on this page"
        );
        assert_eq!(zh.t1("results-count", "count", 3), "本页 3 个数据集");
    }
}
