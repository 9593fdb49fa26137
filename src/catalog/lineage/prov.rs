//! The upstream graph as a W3C PROV-JSON document: a pure rendering of
//! facts already loaded and already cut to what the caller may see.
//! Datasets and their versions are entities, derivations are activities,
//! accounts are agents; a dataset the caller may not see is one opaque
//! `dm:Restricted` entity.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Map, Value, json};

use crate::domain::{Classification, DatasetStatus};

/// Everything the document states.
pub struct Facts {
    /// Every node of the graph, visible or not.
    pub nodes: Vec<Node>,
    /// The versions of the visible datasets.
    pub versions: Vec<NodeVersion>,
    /// The derivations that made visible datasets.
    pub activities: Vec<Activity>,
    /// Every edge walked: a derivation used a source version.
    pub used: Vec<Used>,
    /// Display labels of the agents, by account id.
    pub agents: HashMap<String, String>,
}

pub struct Node {
    pub id: String,
    /// The id as shown: the dataset id, or `restricted-N`.
    pub shown: String,
    /// None when the caller may not see it.
    pub dataset: Option<NodeDataset>,
}

pub struct NodeDataset {
    pub title: String,
    pub classification: Classification,
    pub status: DatasetStatus,
    pub provider: String,
}

pub struct NodeVersion {
    pub dataset: String,
    pub number: i32,
    pub sha256: String,
    pub size: i64,
    pub media_type: String,
}

pub struct Activity {
    pub id: String,
    pub dataset: String,
    pub name: String,
    pub description: String,
    pub agent: String,
    pub started: String,
}

pub struct Used {
    pub derivation: String,
    pub derived: String,
    pub source: String,
    pub version: i32,
}

pub fn render(facts: &Facts) -> Value {
    let nodes: HashMap<&str, &Node> = facts.nodes.iter().map(|n| (n.id.as_str(), n)).collect();
    let visible = |id: &str| nodes.get(id).is_some_and(|n| n.dataset.is_some());
    let shown = |id: &str| nodes.get(id).map_or(id, |n| n.shown.as_str()).to_owned();
    let dataset_entity = |id: &str| {
        if visible(id) {
            format!("dm:dataset-{id}")
        } else {
            format!("dm:{}", shown(id))
        }
    };
    let version_entity = |id: &str, n: i32| {
        if visible(id) {
            format!("dm:version-{id}-{n}")
        } else {
            format!("dm:{}", shown(id))
        }
    };

    let mut entity = Map::new();
    let mut relations: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
    let mut relation = |kind: &'static str, body: Value| {
        let records = relations.entry(kind).or_default();
        let id = format!("_:{kind}{}", records.len() + 1);
        records.insert(id, body);
    };
    for node in &facts.nodes {
        match &node.dataset {
            Some(dataset) => {
                entity.insert(
                    dataset_entity(&node.id),
                    json!({
                        "prov:type": "dm:Dataset",
                        "prov:label": dataset.title,
                        "dm:classification": dataset.classification,
                        "dm:status": dataset.status,
                    }),
                );
                relation(
                    "wasAttributedTo",
                    json!({"prov:entity": dataset_entity(&node.id), "prov:agent": format!("dm:account-{}", dataset.provider)}),
                );
            }
            None => {
                entity.insert(
                    dataset_entity(&node.id),
                    json!({"prov:type": "dm:Restricted"}),
                );
            }
        }
    }
    for v in &facts.versions {
        entity.insert(
            version_entity(&v.dataset, v.number),
            json!({
                "prov:type": "dm:Version",
                "dm:version": v.number,
                "dm:sha256": v.sha256,
                "dm:size": v.size,
                "dm:mediaType": v.media_type,
            }),
        );
        relation(
            "specializationOf",
            json!({"prov:specificEntity": version_entity(&v.dataset, v.number), "prov:generalEntity": dataset_entity(&v.dataset)}),
        );
    }
    let mut activity = Map::new();
    for a in &facts.activities {
        let key = format!("dm:derivation-{}", a.id);
        activity.insert(
            key.clone(),
            json!({
                "prov:label": a.name,
                "dm:description": a.description,
                "prov:startTime": a.started,
            }),
        );
        relation(
            "wasAssociatedWith",
            json!({"prov:activity": key, "prov:agent": format!("dm:account-{}", a.agent)}),
        );
        relation(
            "wasGeneratedBy",
            json!({"prov:entity": dataset_entity(&a.dataset), "prov:activity": key}),
        );
    }
    let recorded: HashSet<&str> = facts.activities.iter().map(|a| a.id.as_str()).collect();
    for e in &facts.used {
        if !recorded.contains(e.derivation.as_str()) {
            continue;
        }
        let key = format!("dm:derivation-{}", e.derivation);
        let used = version_entity(&e.source, e.version);
        if !entity.contains_key(&used) {
            // A source version we could not list (restricted) is still named.
            entity.insert(used.clone(), json!({"prov:type": "dm:Restricted"}));
        }
        relation("used", json!({"prov:activity": key, "prov:entity": used}));
        relation(
            "wasDerivedFrom",
            json!({
                "prov:generatedEntity": dataset_entity(&e.derived),
                "prov:usedEntity": used,
                "prov:activity": key,
            }),
        );
    }
    let agent: Map<String, Value> = facts
        .agents
        .iter()
        .map(|(id, label)| {
            (
                format!("dm:account-{id}"),
                json!({"prov:type": "prov:Agent", "prov:label": label}),
            )
        })
        .collect();

    let mut document = Map::new();
    document.insert(
        "prefix".into(),
        json!({"dm": "urn:datamarket:", "prov": "http://www.w3.org/ns/prov#"}),
    );
    document.insert("entity".into(), Value::Object(entity));
    if !activity.is_empty() {
        document.insert("activity".into(), Value::Object(activity));
    }
    if !agent.is_empty() {
        document.insert("agent".into(), Value::Object(agent));
    }
    for (kind, records) in relations {
        document.insert(kind.into(), Value::Object(records));
    }
    Value::Object(document)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, visible: bool) -> Node {
        Node {
            id: id.into(),
            shown: if visible {
                id.into()
            } else {
                "restricted-1".into()
            },
            dataset: visible.then(|| NodeDataset {
                title: format!("title {id}"),
                classification: Classification::General,
                status: DatasetStatus::Listed,
                provider: "p".into(),
            }),
        }
    }

    #[test]
    fn a_hidden_source_is_one_restricted_entity() {
        let facts = Facts {
            nodes: vec![node("d", true), node("s", false)],
            versions: vec![],
            activities: vec![Activity {
                id: "a".into(),
                dataset: "d".into(),
                name: "clean".into(),
                description: String::new(),
                agent: "p".into(),
                started: "2026-01-01T00:00:00.000000Z".into(),
            }],
            used: vec![Used {
                derivation: "a".into(),
                derived: "d".into(),
                source: "s".into(),
                version: 1,
            }],
            agents: HashMap::from([("p".to_owned(), "Acme".to_owned())]),
        };
        let doc = render(&facts);
        assert_eq!(
            doc["entity"]["dm:restricted-1"]["prov:type"],
            "dm:Restricted"
        );
        assert_eq!(doc["entity"]["dm:dataset-d"]["prov:label"], "title d");
        assert_eq!(doc["used"]["_:used1"]["prov:entity"], "dm:restricted-1");
        assert_eq!(doc["agent"]["dm:account-p"]["prov:label"], "Acme");
        assert_eq!(
            doc["wasDerivedFrom"]["_:wasDerivedFrom1"]["prov:generatedEntity"],
            "dm:dataset-d"
        );
    }
}
