//! The listed catalog as DCAT-AP 3, in JSON-LD and Turtle.

use oxrdf::{NamedNode, NamedOrBlankNode, Term, Triple};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::support::*;

const DCAT: &str = "http://www.w3.org/ns/dcat#";
const DCT: &str = "http://purl.org/dc/terms/";
const ODRL: &str = "http://www.w3.org/ns/odrl/2/";
const SPDX: &str = "http://spdx.org/rdf/terms#";
const RDF_TYPE: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type";

fn iri(s: &str) -> NamedNode {
    NamedNode::new(s).unwrap()
}

/// The objects of `subject`'s `predicate` statements.
fn objects(graph: &[Triple], subject: &NamedOrBlankNode, predicate: &str) -> Vec<Term> {
    graph
        .iter()
        .filter(|t| &t.subject == subject && t.predicate.as_str() == predicate)
        .map(|t| t.object.clone())
        .collect()
}

fn node(term: &Term) -> NamedOrBlankNode {
    match term {
        Term::NamedNode(n) => n.clone().into(),
        Term::BlankNode(b) => b.clone().into(),
        other => panic!("{other} is not a node"),
    }
}

fn literal(term: &Term) -> String {
    match term {
        Term::Literal(l) => l.value().to_owned(),
        other => panic!("{other} is not a literal"),
    }
}

fn subjects_of_type(graph: &[Triple], class: &str) -> Vec<String> {
    let mut found: Vec<String> = graph
        .iter()
        .filter(|t| t.predicate.as_str() == RDF_TYPE && t.object == Term::from(iri(class)))
        .map(|t| t.subject.to_string())
        .collect();
    found.sort();
    found
}

async fn fetch(app: &TestApp, accept: Option<&str>, path: &str) -> Reply {
    let mut req = app.client.get(app.url(path));
    if let Some(accept) = accept {
        req = req.header("accept", accept);
    }
    TestApp::read(req.send().await.unwrap()).await
}

fn parse_turtle(bytes: &[u8]) -> Vec<Triple> {
    oxttl::TurtleParser::new()
        .for_slice(bytes)
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(bytes)))
}

fn parse_json_ld(bytes: &[u8]) -> Vec<Triple> {
    oxjsonld::JsonLdParser::new()
        .for_slice(bytes)
        .map(|q| q.map(Triple::from))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(bytes)))
}

both_backends! {
    async fn the_catalog_states_what_is_listed_and_nothing_else(app: TestApp) {
        let acme = app.provider("dcat-acme").await;
        let title = "城市交通 \"早高峰\" \\ <b>流量</b> ''' > \\u0041";
        let two_versions = app.listed_dataset(&acme, title).await;
        let second = b"city,count\nshanghai,7\n".to_vec();
        app.upload(&acme, two_versions, &second).await.expect(201);
        let offered = app.listed_dataset(&acme, "Hourly counts").await;
        let offer = app
            .post(
                &format!("/api/v1/datasets/{offered}/offers"),
                Some(&acme.token),
                json!({"plan": "one_off", "price": {"amount": 9900, "currency": "CNY"},
                       "max_downloads": 5, "purposes": ["research"], "processing": false,
                       "instant": true}),
            )
            .await;
        offer.expect(201);
        let offer = offer.id();
        let draft = app.dataset(&acme, "Draft only", "general").await;
        app.upload(&acme, draft, b"a,b\n").await.expect(201);
        let delisted = app.listed_dataset(&acme, "Gone").await;
        app.post(&format!("/api/v1/datasets/{delisted}/delist"), Some(&acme.token), json!({}))
            .await
            .expect(200);

        // Anonymous, JSON-LD by default.
        let jsonld = fetch(&app, None, "/api/v1/catalog").await;
        jsonld.expect(200);
        assert_eq!(jsonld.header("content-type"), Some("application/ld+json"));
        // The test market sets no server.public_url: the links come from
        // the request, and the answer is not for shared caches.
        assert_eq!(jsonld.header("cache-control"), Some("private, max-age=60"));
        assert!(jsonld.body.is_object(), "a JSON object");
        let turtle = fetch(&app, Some("text/turtle"), "/api/v1/catalog").await;
        turtle.expect(200);
        assert_eq!(turtle.header("content-type"), Some("text/turtle; charset=utf-8"));

        let dataset_iri = |id: Uuid| app.url(&format!("/api/v1/datasets/{id}"));
        for (name, reply, graph) in [
            ("JSON-LD", &jsonld, parse_json_ld(&jsonld.bytes)),
            ("Turtle", &turtle, parse_turtle(&turtle.bytes)),
        ] {
            let text = String::from_utf8_lossy(&reply.bytes);
            for hidden in [draft, delisted] {
                assert!(!text.contains(&hidden.to_string()), "{name}: {hidden} must not appear");
            }
            let mut listed = vec![
                format!("<{}>", dataset_iri(two_versions)),
                format!("<{}>", dataset_iri(offered)),
            ];
            listed.sort();
            assert_eq!(subjects_of_type(&graph, &format!("{DCAT}Dataset")), listed, "{name}");
            let catalog: NamedOrBlankNode = iri(&app.url("/api/v1/catalog")).into();
            assert_eq!(objects(&graph, &catalog, &format!("{DCAT}dataset")).len(), 2, "{name}");
            assert_eq!(objects(&graph, &catalog, &format!("{DCT}publisher")).len(), 1, "{name}");

            let dataset: NamedOrBlankNode = iri(&dataset_iri(two_versions)).into();
            let titles = objects(&graph, &dataset, &format!("{DCT}title"));
            assert_eq!(titles.len(), 1, "{name}");
            assert_eq!(literal(&titles[0]), title, "{name}: the title as it was written");
            let distributions = objects(&graph, &dataset, &format!("{DCAT}distribution"));
            assert_eq!(distributions.len(), 2, "{name}");
            for (n, bytes) in [(1, b"city,count\nbeijing,42\n".to_vec()), (2, second.clone())] {
                let distribution: NamedOrBlankNode =
                    iri(&app.url(&format!("/api/v1/datasets/{two_versions}/versions/{n}"))).into();
                assert!(distributions.contains(&Term::from(distribution.clone())), "{name}");
                let checksum = objects(&graph, &distribution, &format!("{SPDX}checksum"));
                assert_eq!(checksum.len(), 1, "{name}");
                let value = objects(&graph, &node(&checksum[0]), &format!("{SPDX}checksumValue"));
                assert_eq!(literal(&value[0]), hex::encode(Sha256::digest(&bytes)), "{name} v{n}");
                let algorithm = objects(&graph, &node(&checksum[0]), &format!("{SPDX}algorithm"));
                assert_eq!(algorithm, vec![Term::from(iri(&format!("{SPDX}checksumAlgorithm_sha256")))]);
                let download = objects(&graph, &distribution, &format!("{DCAT}downloadURL"));
                assert_eq!(
                    download,
                    vec![Term::from(iri(&app.url(&format!("/api/v1/datasets/{two_versions}/versions/{n}/content"))))]
                );
            }

            let dataset: NamedOrBlankNode = iri(&dataset_iri(offered)).into();
            let policies = objects(&graph, &dataset, &format!("{ODRL}hasPolicy"));
            let offer_iri = iri(&app.url(&format!("/api/v1/offers/{offer}")));
            assert_eq!(policies, vec![Term::from(offer_iri.clone())], "{name}");
            let offer_node: NamedOrBlankNode = offer_iri.into();
            assert_eq!(
                objects(&graph, &offer_node, RDF_TYPE),
                vec![Term::from(iri(&format!("{ODRL}Offer")))]
            );
            let permission = objects(&graph, &offer_node, &format!("{ODRL}permission"));
            assert_eq!(permission.len(), 1, "{name}: use, no processing");
            let duty = objects(&graph, &node(&permission[0]), &format!("{ODRL}duty"));
            let price = objects(&graph, &node(&duty[0]), &format!("{ODRL}constraint"));
            let amount = objects(&graph, &node(&price[0]), &format!("{ODRL}rightOperand"));
            assert_eq!(literal(&amount[0]), "99.00", "{name}");
        }

        // Unchanged, it revalidates.
        let etag = turtle.header("etag").unwrap().to_owned();
        let again = app
            .client
            .get(app.url("/api/v1/catalog"))
            .header("accept", "text/turtle")
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status().as_u16(), 304);
        assert_ne!(jsonld.header("etag"), Some(etag.as_str()), "one ETag per representation");
    }

    async fn the_catalog_negotiates_its_format(app: TestApp) {
        let acme = app.provider("dcat-negotiator").await;
        app.listed_dataset(&acme, "Negotiated").await;
        let turtle = "text/turtle; charset=utf-8";
        for (accept, expected) in [
            ("*/*", "application/ld+json"),
            ("application/json", "application/ld+json"),
            ("text/html;q=0.9, text/turtle", turtle),
            ("application/ld+json;q=0.5, text/turtle;q=0.8", turtle),
            ("text/*", turtle),
            ("text/turtle;q=0, application/*", "application/ld+json"),
        ] {
            let reply = fetch(&app, Some(accept), "/api/v1/catalog").await;
            reply.expect(200);
            assert_eq!(reply.header("content-type"), Some(expected), "Accept: {accept}");
        }
        let reply = fetch(&app, Some("application/xml"), "/api/v1/catalog?format=ttl").await;
        reply.expect(200);
        assert_eq!(reply.header("content-type"), Some(turtle), "format= overrides Accept");
        fetch(&app, Some("application/xml"), "/api/v1/catalog").await.problem(406, "not-acceptable");
        fetch(&app, Some("text/turtle;q=0"), "/api/v1/catalog").await.problem(406, "not-acceptable");
        fetch(&app, None, "/api/v1/catalog?format=rdfxml").await.problem(406, "not-acceptable");
        // Public, but a token that is sent must be valid.
        app.get("/api/v1/catalog", Some("not-a-token")).await.problem(401, "invalid-token");
        app.get("/api/v1/catalog", Some(&acme.token)).await.expect(200);
    }
}

both_backends! {
    async fn the_catalog_links_come_from_the_host_not_from_forwarded_headers(app: TestApp) {
        let provider = app.provider("acme").await;
        app.listed_dataset(&provider, "traffic counts").await;
        // A client's X-Forwarded-Host does not become the catalog's links,
        // and an answer built from the request's Host is not for caches.
        let forged = app.client.get(app.url("/api/v1/catalog?format=turtle"))
            .header("X-Forwarded-Host", "evil.example")
            .header("Forwarded", "host=evil.example;proto=https")
            .send().await.unwrap();
        assert_eq!(forged.status(), 200);
        assert_eq!(forged.headers()["cache-control"], "private, max-age=60");
        let text = forged.text().await.unwrap();
        assert!(!text.contains("evil.example"));
        assert!(text.contains(&app.base), "links name the Host the request came to");
        // A Host that makes no URL is the client's mistake, not a 500.
        for host in ["[", "a:b:c"] {
            let bad = app.client.get(app.url("/api/v1/catalog")).header("Host", host).send().await.unwrap();
            assert_eq!(bad.status(), 400, "Host: {host}");
        }
    }
}
