//! The listed catalog as DCAT-AP 3: `dcat:Catalog`, a `dcat:Dataset` per
//! listing, a `dcat:Distribution` per version delivered under grants (with
//! its SHA-256 as an `spdx:Checksum`), each provider as a `foaf:Agent`, the
//! listing's sector as an EU data theme, its licence as a
//! `dct:LicenseDocument` and its offers as `odrl:Offer` policies. The
//! renderer is pure: it states facts already loaded ([`listed`] reads the
//! catalog's part; offers belong to `trading`, which adds them) and writes
//! them through `oxrdf`, `oxttl` and `oxjsonld`, which escape every literal
//! and refuse every IRI that is not one.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use oxrdf::vocab::{rdf, rdfs, xsd};
use oxrdf::{BlankNode, Literal, NamedNode, NamedOrBlankNode, Term, Triple};
use uuid::Uuid;

use super::types::{Dataset, SearchQuery, Version, VersionStatus};
use crate::domain::{self, jurisdiction::Sector};
use crate::error::{Error, Result};
use crate::market::Market;

/// The representations of the catalog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    JsonLd,
    Turtle,
}

impl Format {
    pub fn media_type(self) -> &'static str {
        match self {
            Format::JsonLd => "application/ld+json",
            Format::Turtle => "text/turtle; charset=utf-8",
        }
    }
}

/// What the catalog states about one listed dataset.
#[derive(Clone, Debug)]
pub struct Entry {
    pub dataset: Dataset,
    /// Its versions delivered under grants (`available`), oldest first.
    pub versions: Vec<Version>,
    /// The name its provider shows under.
    pub publisher: String,
    /// Its active offers, at their current versions.
    pub offers: Vec<OfferTerms>,
}

/// An offer as the catalog states it (trading's terms, copied by the caller).
#[derive(Clone, Debug)]
pub struct OfferTerms {
    pub id: Uuid,
    pub version: i32,
    /// `one_off`, `subscription` or `metered`.
    pub plan: String,
    /// Minor units of `currency`: once, per period, or per download.
    pub amount: i64,
    pub currency: String,
    pub period_days: Option<u32>,
    pub term_days: u32,
    pub max_downloads: u32,
    pub purposes: Vec<String>,
    pub processing: bool,
    pub territory: Vec<String>,
    pub royalty_bps: u32,
}

/// One page of the listed catalog (what the public search returns, newest
/// first) with each listing's available versions and its provider's name;
/// offers are left for the caller. The cursor continues, `None` at the end.
pub async fn listed(
    market: &Market,
    cursor: Option<String>,
) -> Result<(Vec<Entry>, Option<String>)> {
    let page = super::search(
        market,
        SearchQuery {
            limit: Some(market.settings.limits.page_size_max),
            cursor,
            ..SearchQuery::default()
        },
    )
    .await?;
    let ids: Vec<String> = page.items.iter().map(|d| d.id.to_string()).collect();
    let providers: Vec<String> = page
        .items
        .iter()
        .map(|d| d.provider.to_string())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let (rows, names) = market
        .db
        .read(move |conn| {
            Ok((
                super::versions_of(conn, &ids)?,
                crate::accounts::labels(conn, &providers)?,
            ))
        })
        .await?;
    let mut versions: HashMap<String, Vec<Version>> = HashMap::new();
    for row in rows {
        let version = row.version()?;
        if version.status == VersionStatus::Available {
            versions.entry(row.dataset_id).or_default().push(version);
        }
    }
    let entries = page
        .items
        .into_iter()
        .map(|dataset| Entry {
            versions: versions.remove(&dataset.id.to_string()).unwrap_or_default(),
            publisher: names
                .get(&dataset.provider.to_string())
                .cloned()
                .unwrap_or_else(|| format!("account {}", dataset.provider)),
            offers: Vec::new(),
            dataset,
        })
        .collect();
    Ok((entries, page.next_cursor))
}

/// The EU data theme (http://publications.europa.eu/resource/authority/data-theme)
/// a sector's data falls under, with its English label; `other` has none.
pub fn theme(sector: Sector) -> Option<(&'static str, &'static str)> {
    Some(match sector {
        Sector::Agriculture => ("AGRI", "Agriculture, fisheries, forestry and food"),
        Sector::Industry | Sector::Finance | Sector::Commerce => ("ECON", "Economy and finance"),
        Sector::Energy => ("ENER", "Energy"),
        Sector::Transport => ("TRAN", "Transport"),
        Sector::Health => ("HEAL", "Health"),
        Sector::Education => ("EDUC", "Education, culture and sport"),
        Sector::Science | Sector::Telecom => ("TECH", "Science and technology"),
        Sector::Environment => ("ENVI", "Environment"),
        Sector::PublicAdministration => ("GOVE", "Government and public sector"),
        Sector::Other => return None,
    })
}

/// The listings carry no language: a text with a Han character is tagged
/// Chinese, any other English (the market's two languages).
fn language_of(text: &str) -> &'static str {
    let han = |c: char| {
        matches!(c as u32,
            0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3134F)
    };
    if text.chars().any(han) { "zh" } else { "en" }
}

/// Digits after the decimal point of an ISO 4217 currency (2 unless listed).
fn minor_digits(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        "CLF" | "UYW" => 4,
        _ => 2,
    }
}

/// Minor units as an `xsd:decimal` of major units: 9900 fen is `99.00`.
fn decimal(amount: i64, currency: &str) -> String {
    let digits = minor_digits(currency);
    if digits == 0 {
        return amount.to_string();
    }
    let scale = 10_u64.pow(digits);
    let sign = if amount < 0 { "-" } else { "" };
    let magnitude = amount.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        magnitude / scale,
        magnitude % scale,
        width = digits as usize
    )
}

const DCAT: &str = "http://www.w3.org/ns/dcat#";
const DCT: &str = "http://purl.org/dc/terms/";
const FOAF: &str = "http://xmlns.com/foaf/0.1/";
const ODRL: &str = "http://www.w3.org/ns/odrl/2/";
const SPDX: &str = "http://spdx.org/rdf/terms#";
const SKOS: &str = "http://www.w3.org/2004/02/skos/core#";
const DM: &str = "urn:datamarket:";
const THEMES: &str = "http://publications.europa.eu/resource/authority/data-theme";
const CURRENCIES: &str = "http://publications.europa.eu/resource/authority/currency/";
const MEDIA_TYPES: &str = "http://www.iana.org/assignments/media-types/";

/// The prefixes both serialisations declare.
const PREFIXES: &[(&str, &str)] = &[
    ("dcat", DCAT),
    ("dct", DCT),
    ("foaf", FOAF),
    ("odrl", ODRL),
    ("spdx", SPDX),
    ("skos", SKOS),
    ("rdfs", "http://www.w3.org/2000/01/rdf-schema#"),
    ("xsd", "http://www.w3.org/2001/XMLSchema#"),
    ("dm", DM),
];

fn term(namespace: &str, local: &str) -> NamedNode {
    NamedNode::new_unchecked(format!("{namespace}{local}"))
}

/// Builds the graph, one subject's statements together.
struct Graph {
    base: String,
    triples: Vec<Triple>,
    agents: BTreeSet<Uuid>,
    themes: BTreeMap<&'static str, &'static str>,
    media_types: BTreeSet<String>,
    licences: BTreeSet<String>,
}

impl Graph {
    fn iri(&self, path: &str) -> Result<NamedNode> {
        NamedNode::new(format!("{}{path}", self.base))
            .map_err(|e| Error::Internal(format!("the catalog's IRI {path:?} is not valid: {e}")))
    }

    fn add(&mut self, s: impl Into<NamedOrBlankNode>, p: NamedNode, o: impl Into<Term>) {
        self.triples.push(Triple::new(s, p, o));
    }

    fn text(&mut self, s: &NamedNode, p: NamedNode, text: &str) {
        let literal = Literal::new_language_tagged_literal_unchecked(text, language_of(text));
        self.add(s.clone(), p, literal);
    }

    fn time(&mut self, s: &NamedNode, p: NamedNode, t: DateTime<Utc>) {
        self.add(
            s.clone(),
            p,
            Literal::new_typed_literal(domain::format_time(t), xsd::DATE_TIME),
        );
    }

    fn typed(&mut self, s: impl Into<NamedOrBlankNode>, class: NamedNode) {
        self.add(s, rdf::TYPE.into_owned(), class);
    }

    fn catalog(&mut self, entries: &[Entry]) -> Result<()> {
        let catalog = self.iri("/api/v1/catalog")?;
        let platform = self.iri("/#platform")?;
        let home = self.iri("/")?;
        self.typed(catalog.clone(), term(DCAT, "Catalog"));
        for (text, lang) in [("datamarket catalog", "en"), ("数据市场目录", "zh")] {
            let title = Literal::new_language_tagged_literal_unchecked(text, lang);
            self.add(catalog.clone(), term(DCT, "title"), title);
        }
        for (text, lang) in [
            (
                "The datasets listed on the market, their versions and offers",
                "en",
            ),
            ("市场上架的数据集、版本与报价", "zh"),
        ] {
            let description = Literal::new_language_tagged_literal_unchecked(text, lang);
            self.add(catalog.clone(), term(DCT, "description"), description);
        }
        self.add(catalog.clone(), term(DCT, "publisher"), platform.clone());
        self.add(catalog.clone(), term(FOAF, "homepage"), home.clone());
        self.add(
            catalog.clone(),
            term(DCAT, "themeTaxonomy"),
            NamedNode::new_unchecked(THEMES),
        );
        for entry in entries {
            let dataset = self.iri(&format!("/api/v1/datasets/{}", entry.dataset.id))?;
            self.add(catalog.clone(), term(DCAT, "dataset"), dataset);
        }
        self.typed(platform.clone(), term(FOAF, "Agent"));
        self.add(
            platform,
            term(FOAF, "name"),
            Literal::new_simple_literal("datamarket"),
        );
        self.typed(home, term(FOAF, "Document"));
        let scheme = NamedNode::new_unchecked(THEMES);
        self.typed(scheme.clone(), term(SKOS, "ConceptScheme"));
        let title = Literal::new_language_tagged_literal_unchecked("Data theme", "en");
        self.add(scheme, term(DCT, "title"), title);
        Ok(())
    }

    fn dataset(&mut self, entry: &Entry) -> Result<()> {
        let d = &entry.dataset;
        let dataset = self.iri(&format!("/api/v1/datasets/{}", d.id))?;
        let page = self.iri(&format!("/catalog/{}", d.id))?;
        let publisher = NamedNode::new_unchecked(format!("{DM}account:{}", d.provider));
        self.typed(dataset.clone(), term(DCAT, "Dataset"));
        self.add(
            dataset.clone(),
            term(DCT, "identifier"),
            Literal::new_simple_literal(d.id.to_string()),
        );
        self.text(&dataset, term(DCT, "title"), &d.title);
        // DCAT-AP requires a description; a listing may have left it empty.
        let description = if d.description.trim().is_empty() {
            &d.title
        } else {
            &d.description
        };
        self.text(&dataset, term(DCT, "description"), description);
        for tag in &d.tags {
            self.text(&dataset, term(DCAT, "keyword"), tag);
        }
        self.add(dataset.clone(), term(DCT, "publisher"), publisher.clone());
        if let Some((code, label)) = d.sector.and_then(theme) {
            self.add(
                dataset.clone(),
                term(DCAT, "theme"),
                NamedNode::new_unchecked(format!("{THEMES}/{code}")),
            );
            self.themes.insert(code, label);
        }
        if let Some(listed) = d.listed_at {
            self.time(&dataset, term(DCT, "issued"), listed);
        }
        self.time(&dataset, term(DCT, "modified"), d.updated_at);
        self.add(dataset.clone(), term(DCAT, "landingPage"), page.clone());
        self.add(
            dataset.clone(),
            term(DM, "classification"),
            Literal::new_simple_literal(d.classification.as_str()),
        );
        self.add(
            dataset.clone(),
            term(DM, "personalData"),
            Literal::from(d.personal_data || d.inherited_personal_data),
        );
        let mut distributions = Vec::with_capacity(entry.versions.len());
        for v in &entry.versions {
            let distribution =
                self.iri(&format!("/api/v1/datasets/{}/versions/{}", d.id, v.version))?;
            self.add(
                dataset.clone(),
                term(DCAT, "distribution"),
                distribution.clone(),
            );
            distributions.push((distribution, v));
        }
        let mut offers = Vec::with_capacity(entry.offers.len());
        for o in &entry.offers {
            let offer = self.iri(&format!("/api/v1/offers/{}", o.id))?;
            self.add(dataset.clone(), term(ODRL, "hasPolicy"), offer.clone());
            offers.push((offer, o));
        }
        self.typed(page, term(FOAF, "Document"));
        if self.agents.insert(d.provider) {
            self.typed(publisher.clone(), term(FOAF, "Agent"));
            self.add(
                publisher.clone(),
                term(FOAF, "name"),
                Literal::new_simple_literal(&entry.publisher),
            );
        }
        let licence = self.licence(d)?;
        for (distribution, v) in distributions {
            self.distribution(d, &distribution, v, &licence)?;
        }
        for (offer, o) in offers {
            self.offer(&dataset, &publisher, &offer, o);
        }
        Ok(())
    }

    /// The listing's licence: its text when that is an http(s) IRI, else a
    /// document named after the listing's own (its `license` field), with the
    /// text as its label.
    fn licence(&mut self, d: &Dataset) -> Result<NamedNode> {
        let text = d.license.trim();
        let named = (text.starts_with("https://") || text.starts_with("http://"))
            .then(|| NamedNode::new(text).ok())
            .flatten();
        let (licence, label) = match named {
            Some(iri) => (iri, None),
            None => (
                self.iri(&format!("/api/v1/datasets/{}#license", d.id))?,
                Some(text),
            ),
        };
        if self.licences.insert(licence.as_str().to_owned()) {
            self.typed(licence.clone(), term(DCT, "LicenseDocument"));
            if let Some(label) = label {
                let label =
                    Literal::new_language_tagged_literal_unchecked(label, language_of(label));
                self.add(licence.clone(), rdfs::LABEL.into_owned(), label);
            }
        }
        Ok(licence)
    }

    fn distribution(
        &mut self,
        d: &Dataset,
        distribution: &NamedNode,
        v: &Version,
        licence: &NamedNode,
    ) -> Result<()> {
        let content = self.iri(&format!(
            "/api/v1/datasets/{}/versions/{}/content",
            d.id, v.version
        ))?;
        let page = self.iri(&format!("/catalog/{}", d.id))?;
        self.typed(distribution.clone(), term(DCAT, "Distribution"));
        let title =
            Literal::new_language_tagged_literal_unchecked(format!("version {}", v.version), "en");
        self.add(distribution.clone(), term(DCT, "title"), title);
        self.add(distribution.clone(), term(DCAT, "accessURL"), page);
        self.add(distribution.clone(), term(DCAT, "downloadURL"), content);
        if let Some(media_type) = iana_media_type(&v.media_type) {
            self.add(
                distribution.clone(),
                term(DCAT, "mediaType"),
                media_type.clone(),
            );
            self.media_types.insert(media_type.into_string());
        }
        self.add(
            distribution.clone(),
            term(DCAT, "byteSize"),
            Literal::new_typed_literal(v.size.to_string(), xsd::NON_NEGATIVE_INTEGER),
        );
        self.time(distribution, term(DCT, "issued"), v.created_at);
        self.add(distribution.clone(), term(DCT, "license"), licence.clone());
        let checksum = blank(&format!("sha256-{}-{}", d.id.simple(), v.version));
        self.add(
            distribution.clone(),
            term(SPDX, "checksum"),
            checksum.clone(),
        );
        self.typed(checksum.clone(), term(SPDX, "Checksum"));
        self.add(
            checksum.clone(),
            term(SPDX, "algorithm"),
            term(SPDX, "checksumAlgorithm_sha256"),
        );
        self.add(
            checksum,
            term(SPDX, "checksumValue"),
            Literal::new_typed_literal(&v.sha256, xsd::HEX_BINARY),
        );
        Ok(())
    }

    /// An offer as an ODRL 2.2 `Offer`: permission to `use` (and to
    /// `modify` when it licenses processing) under count, term and purpose
    /// constraints, with a duty to `compensate` the price; `distribute`
    /// prohibited, as in the grants it becomes. The market's exact terms
    /// follow as `dm:` statements.
    fn offer(
        &mut self,
        dataset: &NamedNode,
        assigner: &NamedNode,
        offer: &NamedNode,
        o: &OfferTerms,
    ) {
        let id = o.id.simple();
        let node = |name: &str| blank(&format!("offer-{id}-{name}"));
        self.typed(offer.clone(), term(ODRL, "Offer"));
        self.add(offer.clone(), term(ODRL, "uid"), offer.clone());
        self.add(offer.clone(), term(ODRL, "assigner"), assigner.clone());
        self.add(offer.clone(), term(ODRL, "target"), dataset.clone());
        let mut actions = vec!["use"];
        if o.processing {
            actions.push("modify");
        }
        for action in &actions {
            self.add(offer.clone(), term(ODRL, "permission"), node(action));
        }
        self.add(offer.clone(), term(ODRL, "prohibition"), node("distribute"));
        let integer = |n: i64| Literal::new_typed_literal(n.to_string(), xsd::INTEGER);
        let word = |w: &str| Literal::new_simple_literal(w);
        self.add(
            offer.clone(),
            term(DM, "offerVersion"),
            integer(i64::from(o.version)),
        );
        self.add(offer.clone(), term(DM, "plan"), word(&o.plan));
        self.add(
            offer.clone(),
            term(DM, "amountMinorUnits"),
            integer(o.amount),
        );
        self.add(offer.clone(), term(DM, "currency"), word(&o.currency));
        if let Some(days) = o.period_days {
            self.add(
                offer.clone(),
                term(DM, "periodDays"),
                integer(i64::from(days)),
            );
        }
        self.add(
            offer.clone(),
            term(DM, "termDays"),
            integer(i64::from(o.term_days)),
        );
        for t in &o.territory {
            self.add(offer.clone(), term(DM, "territory"), word(t));
        }
        if o.royalty_bps > 0 {
            self.add(
                offer.clone(),
                term(DM, "royaltyBasisPoints"),
                integer(i64::from(o.royalty_bps)),
            );
        }
        let constraint = |name: &str| node(&format!("constraint-{name}"));
        for action in &actions {
            let permission = node(action);
            self.add(permission.clone(), term(ODRL, "action"), term(ODRL, action));
            self.add(permission.clone(), term(ODRL, "target"), dataset.clone());
            self.add(permission.clone(), term(ODRL, "assigner"), assigner.clone());
            self.add(
                permission.clone(),
                term(ODRL, "constraint"),
                constraint("count"),
            );
            self.add(
                permission.clone(),
                term(ODRL, "constraint"),
                constraint("term"),
            );
            if !o.purposes.is_empty() {
                self.add(
                    permission.clone(),
                    term(ODRL, "constraint"),
                    constraint("purpose"),
                );
            }
            self.add(permission, term(ODRL, "duty"), node("payment"));
        }
        let prohibition = node("distribute");
        self.add(
            prohibition.clone(),
            term(ODRL, "action"),
            term(ODRL, "distribute"),
        );
        self.add(prohibition.clone(), term(ODRL, "target"), dataset.clone());
        self.add(prohibition, term(ODRL, "assigner"), assigner.clone());
        let payment = node("payment");
        self.add(
            payment.clone(),
            term(ODRL, "action"),
            term(ODRL, "compensate"),
        );
        self.add(payment, term(ODRL, "constraint"), constraint("price"));
        let c = constraint("price");
        self.add(
            c.clone(),
            term(ODRL, "leftOperand"),
            term(ODRL, "payAmount"),
        );
        self.add(c.clone(), term(ODRL, "operator"), term(ODRL, "eq"));
        self.add(
            c.clone(),
            term(ODRL, "rightOperand"),
            Literal::new_typed_literal(decimal(o.amount, &o.currency), xsd::DECIMAL),
        );
        self.add(
            c,
            term(ODRL, "unit"),
            NamedNode::new_unchecked(format!("{CURRENCIES}{}", o.currency)),
        );
        let c = constraint("count");
        self.add(c.clone(), term(ODRL, "leftOperand"), term(ODRL, "count"));
        self.add(c.clone(), term(ODRL, "operator"), term(ODRL, "lteq"));
        self.add(
            c,
            term(ODRL, "rightOperand"),
            integer(i64::from(o.max_downloads)),
        );
        let c = constraint("term");
        let days = o.period_days.unwrap_or(o.term_days);
        self.add(
            c.clone(),
            term(ODRL, "leftOperand"),
            term(ODRL, "elapsedTime"),
        );
        self.add(c.clone(), term(ODRL, "operator"), term(ODRL, "lteq"));
        self.add(
            c,
            term(ODRL, "rightOperand"),
            Literal::new_typed_literal(format!("P{days}D"), xsd::DURATION),
        );
        if !o.purposes.is_empty() {
            let c = constraint("purpose");
            self.add(c.clone(), term(ODRL, "leftOperand"), term(ODRL, "purpose"));
            self.add(c.clone(), term(ODRL, "operator"), term(ODRL, "isAnyOf"));
            for purpose in &o.purposes {
                let literal =
                    Literal::new_language_tagged_literal_unchecked(purpose, language_of(purpose));
                self.add(c.clone(), term(ODRL, "rightOperand"), literal);
            }
        }
    }

    /// The things many statements point at, described once.
    fn shared(&mut self) {
        let sha256 = term(SPDX, "checksumAlgorithm_sha256");
        self.typed(sha256, term(SPDX, "ChecksumAlgorithm"));
        for (code, label) in std::mem::take(&mut self.themes) {
            let concept = NamedNode::new_unchecked(format!("{THEMES}/{code}"));
            self.typed(concept.clone(), term(SKOS, "Concept"));
            let label = Literal::new_language_tagged_literal_unchecked(label, "en");
            self.add(concept.clone(), term(SKOS, "prefLabel"), label);
            self.add(
                concept,
                term(SKOS, "inScheme"),
                NamedNode::new_unchecked(THEMES),
            );
        }
        for media_type in std::mem::take(&mut self.media_types) {
            self.typed(NamedNode::new_unchecked(media_type), term(DCT, "MediaType"));
        }
    }
}

/// A blank node with a label made of the document's own ids, so that the
/// same catalog renders to the same bytes (and ETag).
fn blank(label: &str) -> BlankNode {
    BlankNode::new_unchecked(label)
}

/// A media type's IANA registry IRI: its `type/subtype`, without parameters.
fn iana_media_type(media_type: &str) -> Option<NamedNode> {
    let parsed: mime::Mime = media_type.parse().ok()?;
    let essence = parsed.essence_str().to_ascii_lowercase();
    NamedNode::new(format!("{MEDIA_TYPES}{essence}")).ok()
}

/// The catalog of `entries` as a DCAT-AP 3 document in `format`. `base` is
/// the market's public base URL (scheme and authority, no trailing slash).
pub fn render(base: &str, entries: &[Entry], format: Format) -> Result<Vec<u8>> {
    serialize(&statements(base, entries)?, format)
}

/// The catalog's statements, each subject's together.
fn statements(base: &str, entries: &[Entry]) -> Result<Vec<Triple>> {
    let mut graph = Graph {
        base: base.trim_end_matches('/').to_owned(),
        triples: Vec::new(),
        agents: BTreeSet::new(),
        themes: BTreeMap::new(),
        media_types: BTreeSet::new(),
        licences: BTreeSet::new(),
    };
    graph.catalog(entries)?;
    for entry in entries {
        graph.dataset(entry)?;
    }
    graph.shared();
    Ok(graph.triples)
}

fn serialize(triples: &[Triple], format: Format) -> Result<Vec<u8>> {
    let failed = |e: &dyn std::fmt::Display| Error::Internal(format!("writing the catalog: {e}"));
    match format {
        Format::Turtle => {
            let mut serializer = oxttl::TurtleSerializer::new();
            for (prefix, iri) in PREFIXES {
                serializer = serializer
                    .with_prefix(*prefix, *iri)
                    .map_err(|e| failed(&e))?;
            }
            let mut writer = serializer.for_writer(Vec::new());
            for triple in triples {
                writer.serialize_triple(triple).map_err(|e| failed(&e))?;
            }
            writer.finish().map_err(|e| failed(&e))
        }
        Format::JsonLd => {
            let mut serializer = oxjsonld::JsonLdSerializer::new();
            for (prefix, iri) in PREFIXES {
                serializer = serializer
                    .with_prefix(*prefix, *iri)
                    .map_err(|e| failed(&e))?;
            }
            let mut writer = serializer.for_writer(Vec::new());
            for triple in triples {
                writer
                    .serialize_quad(triple.as_ref().in_graph(oxrdf::GraphNameRef::DefaultGraph))
                    .map_err(|e| failed(&e))?;
            }
            writer.finish().map_err(|e| failed(&e))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use chrono::TimeZone;

    use super::*;
    use crate::catalog::types::Price;
    use crate::domain::{Classification, DatasetStatus};

    const NASTY: &str = "交通 \"quoted\" '''triple''' \"\"\" back\\slash\\ \\u0041 \n second line\r\t<tab> > & ; . # @en 🚀 \u{2028} _:b0 <http://x> ";

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_780_000_000 + secs, 123_000)
            .single()
            .unwrap()
    }

    fn entry(title: &str, license: &str, sector: Option<Sector>) -> Entry {
        let id = Uuid::new_v4();
        Entry {
            dataset: Dataset {
                id,
                provider: Uuid::new_v4(),
                title: title.to_owned(),
                description: String::new(),
                tags: vec!["tag\"with quote".into(), "交通".into(), "a\\b".into()],
                classification: Classification::General,
                personal_data: false,
                license: license.to_owned(),
                price: Price {
                    amount: 100,
                    currency: "CNY".into(),
                },
                status: DatasetStatus::Listed,
                review: None,
                latest_version: Some(2),
                created_at: at(0),
                updated_at: at(20),
                listed_at: Some(at(10)),
                inherited_classification: None,
                inherited_personal_data: false,
                sector,
            },
            versions: (1..=2)
                .map(|n| Version {
                    version: n,
                    sha256: format!("{n:064x}"),
                    size: 17,
                    media_type: if n == 1 {
                        "text/csv; charset=\"utf-8\"".into()
                    } else {
                        "application/octet-stream".into()
                    },
                    created_at: at(i64::from(n)),
                    status: VersionStatus::Available,
                    review: None,
                })
                .collect(),
            publisher: format!("{NASTY} publisher"),
            offers: vec![OfferTerms {
                id: Uuid::new_v4(),
                version: 3,
                plan: "one_off".into(),
                amount: 9900,
                currency: "CNY".into(),
                period_days: None,
                term_days: 365,
                max_downloads: 10,
                purposes: vec![NASTY.into(), "research".into()],
                processing: true,
                territory: vec!["US".into()],
                royalty_bps: 250,
            }],
        }
    }

    /// The statements without blank nodes, whose labels a parser may
    /// choose anew, and how many there were in all.
    fn ground(triples: impl IntoIterator<Item = Triple>) -> (HashSet<Triple>, usize) {
        let mut all = 0;
        let mut set = HashSet::new();
        for t in triples {
            all += 1;
            let blank = matches!(t.subject, NamedOrBlankNode::BlankNode(_))
                || matches!(t.object, Term::BlankNode(_));
            if !blank {
                set.insert(t);
            }
        }
        (set, all)
    }

    fn sample() -> Vec<Entry> {
        vec![
            entry(
                NASTY,
                "http://example.com/licence>evil",
                Some(Sector::Transport),
            ),
            entry(
                "Hourly counts",
                "https://creativecommons.org/licenses/by/4.0/",
                None,
            ),
            entry("城市交通流量", NASTY, Some(Sector::Other)),
        ]
    }

    #[test]
    fn nasty_text_survives_turtle_and_json_ld_unchanged() {
        let entries = sample();
        let base = "https://market.example";
        let expected = statements(base, &entries).unwrap();
        let (want, count) = ground(expected.iter().cloned().collect::<HashSet<_>>());
        let dataset =
            NamedNode::new(format!("{base}/api/v1/datasets/{}", entries[0].dataset.id)).unwrap();
        assert!(
            want.contains(&Triple::new(
                dataset,
                term(DCT, "title"),
                Literal::new_language_tagged_literal_unchecked(NASTY, "zh"),
            )),
            "the title is stated as it is, tagged Chinese"
        );
        let turtle = render(base, &entries, Format::Turtle).unwrap();
        let parsed = oxttl::TurtleParser::new()
            .for_slice(&turtle)
            .collect::<std::result::Result<HashSet<_>, _>>()
            .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&turtle)));
        assert_eq!(ground(parsed), (want.clone(), count), "Turtle");
        let json = render(base, &entries, Format::JsonLd).unwrap();
        serde_json::from_slice::<serde_json::Value>(&json).unwrap();
        let parsed = oxjsonld::JsonLdParser::new()
            .for_slice(&json)
            .map(|q| q.map(Triple::from))
            .collect::<std::result::Result<HashSet<_>, _>>()
            .unwrap();
        assert_eq!(ground(parsed), (want, count), "JSON-LD");
    }

    #[test]
    fn a_licence_is_named_by_its_text_only_when_that_is_an_iri() {
        let entries = sample();
        let triples = statements("http://m.example", &entries).unwrap();
        let licences: Vec<String> = triples
            .iter()
            .filter(|t| t.predicate == term(DCT, "license"))
            .map(|t| t.object.to_string())
            .collect();
        assert_eq!(licences.len(), 6, "one per distribution");
        let own = |d: &Entry| {
            format!(
                "<http://m.example/api/v1/datasets/{}#license>",
                d.dataset.id
            )
        };
        assert_eq!(licences[0], own(&entries[0]), "`>` makes no IRI");
        assert_eq!(
            licences[2],
            "<https://creativecommons.org/licenses/by/4.0/>"
        );
        assert_eq!(licences[4], own(&entries[2]));
    }

    #[test]
    fn a_catalog_renders_to_the_same_bytes_each_time() {
        let entries = sample();
        for format in [Format::Turtle, Format::JsonLd] {
            assert_eq!(
                render("https://m.example", &entries, format).unwrap(),
                render("https://m.example", &entries, format).unwrap()
            );
        }
    }

    #[test]
    fn every_sector_but_other_has_a_theme() {
        use crate::domain::jurisdiction::Sector as S;
        for sector in [
            S::Agriculture,
            S::Industry,
            S::Energy,
            S::Transport,
            S::Finance,
            S::Health,
            S::Education,
            S::Science,
            S::Telecom,
            S::Commerce,
            S::Environment,
            S::PublicAdministration,
        ] {
            assert!(theme(sector).is_some(), "{sector:?}");
        }
        assert_eq!(theme(S::Other), None);
        assert_eq!(theme(S::Transport).map(|t| t.0), Some("TRAN"));
    }

    #[test]
    fn prices_are_stated_in_major_units() {
        assert_eq!(decimal(9900, "CNY"), "99.00");
        assert_eq!(decimal(7, "CNY"), "0.07");
        assert_eq!(decimal(0, "EUR"), "0.00");
        assert_eq!(decimal(1500, "JPY"), "1500");
        assert_eq!(decimal(1234, "KWD"), "1.234");
        assert_eq!(decimal(i64::MAX, "USD"), "92233720368547758.07");
    }

    #[test]
    fn text_with_han_characters_is_chinese() {
        assert_eq!(language_of("城市交通"), "zh");
        assert_eq!(language_of("Traffic 交通"), "zh");
        assert_eq!(language_of("Traffic"), "en");
        assert_eq!(language_of(""), "en");
    }

    #[test]
    fn media_types_name_their_iana_entry() {
        assert_eq!(
            iana_media_type("text/CSV; charset=utf-8").map(NamedNode::into_string),
            Some("http://www.iana.org/assignments/media-types/text/csv".into())
        );
        assert_eq!(iana_media_type("not a type"), None);
    }
}
