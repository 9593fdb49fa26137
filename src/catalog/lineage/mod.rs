//! Lineage: where every derived dataset came from. Derivations are W3C
//! PROV activities: an agent used source versions and generated a dataset.
//! Lineage walks the derivation graph in the database with a recursive
//! query, on both backends, bounded by a depth; [`prov`] renders the
//! upstream graph as PROV-JSON.

mod prov;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::rows::{self, DatasetRow, load_visible};
use crate::access::{self, Listing};
use crate::audit::{self, Action, Entry};
use crate::domain::text::{ActivityDescription, ActivityName};
use crate::domain::{self, Actor, DatasetStatus, market_words};
use crate::error::{Code, Error, Result};
use crate::market::Market;
use crate::store::schema::{dataset_sources, datasets, derivations};
use crate::store::{DbConnection, dialect};

const MAX_SOURCES: usize = 100;
/// Rows per `IN (…)` list, well under both backends' bind limits.
const CHUNK: usize = 500;

/// One source of a derivation: a version of another dataset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceRef {
    pub dataset: Uuid,
    #[schema(minimum = 1)]
    pub version: i32,
}

/// The processing step that made a derived dataset.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityInput {
    #[schema(
        example = "Aggregate to district level",
        min_length = 1,
        max_length = 200
    )]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 4000)]
    pub description: String,
}

market_words!(
    /// Which way to walk the lineage graph.
    Direction {
        Upstream = "upstream",
        Downstream = "downstream",
        Both = "both",
    }
);

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct LineageNode {
    /// The dataset id, or an opaque `restricted-N` for a dataset the caller
    /// may not see.
    pub id: String,
    pub restricted: bool,
    /// Steps from the dataset asked about (0 for itself).
    pub depth: u32,
    pub title: Option<String>,
    pub status: Option<DatasetStatus>,
    pub provider: Option<Uuid>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct LineageEdge {
    /// The derived dataset (node id).
    pub derived: String,
    /// The source dataset (node id).
    pub source: String,
    /// The source version used.
    pub version: i32,
    /// The derivation activity, unless either end is restricted.
    pub activity: Option<Uuid>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Lineage {
    pub root: Uuid,
    pub direction: Direction,
    pub depth: u32,
    pub nodes: Vec<LineageNode>,
    pub edges: Vec<LineageEdge>,
    /// The graph had more edges than `lineage.max_nodes`; the rest were cut.
    pub truncated: bool,
}

/// A derivation as a client described it, checked before any transaction.
pub struct DerivationInput {
    sources: Vec<SourceRef>,
    name: ActivityName,
    description: ActivityDescription,
}

impl DerivationInput {
    /// None when the client named no sources and no activity.
    pub fn parse(
        sources: &[SourceRef],
        activity: Option<&ActivityInput>,
    ) -> Result<Option<DerivationInput>> {
        if sources.is_empty() && activity.is_none() {
            return Ok(None);
        }
        if sources.len() > MAX_SOURCES {
            return Err(Error::invalid(
                "derived_from",
                format!("at most {MAX_SOURCES} sources"),
            ));
        }
        let activity = activity.ok_or_else(|| {
            Error::invalid(
                "activity",
                "a derived dataset names the activity that made it",
            )
        })?;
        let mut seen = HashSet::new();
        for source in sources {
            if !seen.insert(source.dataset) {
                return Err(Error::invalid("derived_from", "a dataset is named twice"));
            }
        }
        Ok(Some(DerivationInput {
            sources: sources.to_vec(),
            name: ActivityName::parse("activity.name", &activity.name)?,
            description: ActivityDescription::parse("activity.description", &activity.description)?,
        }))
    }
}

/// Records that `derived` was made from the input's sources by its
/// activity, after checking that the actor may process every source and
/// that no cycle arises. Runs inside the caller's write transaction.
pub(crate) fn record_derivation(
    conn: &mut DbConnection,
    actor: &Actor,
    derived: &DatasetRow,
    input: &DerivationInput,
) -> Result<u64> {
    let sources = &input.sources;
    let derived_id = derived.uuid()?;
    let descendants = descendants_of(conn, &derived.id)?;
    let mut source_rows = Vec::with_capacity(sources.len());
    for source in sources {
        if source.dataset == derived_id || descendants.contains(&source.dataset.to_string()) {
            return Err(Error::refused(
                Code::DerivationCycle,
                format!(
                    "dataset {} is this dataset or derives from it",
                    source.dataset
                ),
            )
            .with("source", source.dataset.to_string()));
        }
        let row = load_visible(conn, Some(actor), source.dataset).map_err(|e| match e.code() {
            Code::NotFound => {
                Error::not_found("source dataset").with("source", source.dataset.to_string())
            }
            _ => e,
        })?;
        if !rows::version_exists(conn, source.dataset, source.version)? {
            return Err(Error::invalid(
                "derived_from",
                format!(
                    "dataset {} has no version {}",
                    source.dataset, source.version
                ),
            )
            .with("source", source.dataset.to_string()));
        }
        if !access::may_process(conn, actor, source.dataset)? {
            return Err(Error::refused(
                Code::LacksProcessingRight,
                format!(
                    "you hold no processing right over source dataset {}: hold its holding or processing right, or a grant that allows processing",
                    source.dataset
                ),
            )
            .with("source", source.dataset.to_string()));
        }
        source_rows.push(row);
    }
    let derivation = domain::new_id();
    diesel::insert_into(derivations::table)
        .values((
            derivations::id.eq(derivation.to_string()),
            derivations::dataset_id.eq(&derived.id),
            derivations::name.eq(input.name.as_str()),
            derivations::description.eq(input.description.as_str()),
            derivations::agent_id.eq(actor.id.to_string()),
            derivations::created_at.eq(domain::to_db_time(domain::now())),
        ))
        .execute(conn)?;
    let mut royalties = Vec::with_capacity(sources.len());
    for source in sources {
        // What the processing licence used for this source set the derived
        // product to owe it (nothing when the right is the actor's own).
        let royalty_bps = access::processing_royalty(conn, actor, source.dataset)?;
        royalties.push(json!({"source": source.dataset, "royalty_bps": royalty_bps}));
        diesel::insert_into(dataset_sources::table)
            .values((
                dataset_sources::derivation_id.eq(derivation.to_string()),
                dataset_sources::dataset_id.eq(&derived.id),
                dataset_sources::source_id.eq(source.dataset.to_string()),
                dataset_sources::source_version.eq(source.version),
                dataset_sources::royalty_bps.eq(royalty_bps as i32),
            ))
            .execute(conn)?;
    }
    // What the sources are, the derived dataset is at least: as classified
    // (core sources make it unpublishable) and as personal.
    let inherited_classification = source_rows
        .iter()
        .map(|r| {
            r.classification
                .max(r.inherited_classification.unwrap_or(r.classification))
        })
        .chain(derived.inherited_classification)
        .max();
    let inherited_personal = derived.inherited_personal_data
        || source_rows
            .iter()
            .any(|r| r.personal_data || r.inherited_personal_data);
    let classification =
        inherited_classification.map_or(derived.classification, |c| c.max(derived.classification));
    diesel::update(datasets::table.find(&derived.id))
        .set((
            datasets::inherited_classification.eq(inherited_classification),
            datasets::inherited_personal_data.eq(inherited_personal),
            datasets::classification.eq(classification),
            datasets::personal_data.eq(derived.personal_data || inherited_personal),
        ))
        .execute(conn)?;
    let mut parties = vec![derived.provider()?];
    for row in &source_rows {
        parties.push(row.provider()?);
    }
    audit::append(
        conn,
        Entry {
            actor: Some(actor.id),
            action: Action::DerivationRecorded,
            dataset: Some(derived_id),
            subject: derivation.to_string(),
            parties,
            detail: json!({
                "activity": input.name,
                "sources": sources,
                "classification": classification,
                "personal_data": derived.personal_data || inherited_personal,
                "royalties": royalties,
            }),
        },
    )
}

/// The sources `dataset` was derived from and the royalty, in basis
/// points, each is owed on its sales (the highest any derivation from it
/// recorded), by source id.
pub fn royalties_owed(conn: &mut DbConnection, dataset: Uuid) -> Result<Vec<(String, u32)>> {
    let rows: Vec<(String, i32)> = dataset_sources::table
        .filter(dataset_sources::dataset_id.eq(dataset.to_string()))
        .select((dataset_sources::source_id, dataset_sources::royalty_bps))
        .load(conn)?;
    let mut owed: std::collections::BTreeMap<String, u32> = std::collections::BTreeMap::new();
    for (source, bps) in rows {
        let entry = owed.entry(source).or_insert(0);
        *entry = (*entry).max(bps.max(0) as u32);
    }
    Ok(owed.into_iter().collect())
}

/// Every dataset derived, directly or not, from `dataset`, at any depth.
pub fn downstream(conn: &mut DbConnection, dataset: Uuid) -> Result<Vec<Uuid>> {
    let mut ids: Vec<Uuid> = descendants_of(conn, &dataset.to_string())?
        .iter()
        .map(|id| domain::id_from_db(id))
        .collect::<Result<_>>()?;
    ids.sort();
    Ok(ids)
}

/// Every dataset derived, directly or not, from `dataset`.
fn descendants_of(conn: &mut DbConnection, dataset: &str) -> Result<HashSet<String>> {
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = Text)]
        id: String,
    }
    let sql = dialect::numbered(
        conn,
        "WITH RECURSIVE down(id) AS (
             SELECT dataset_id FROM dataset_sources WHERE source_id = $1
             UNION
             SELECT s.dataset_id FROM dataset_sources s JOIN down d ON s.source_id = d.id
         )
         SELECT id FROM down",
    );
    let rows: Vec<Id> = diesel::sql_query(sql).bind::<Text, _>(dataset).load(conn)?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

#[derive(QueryableByName, Debug, Clone)]
struct EdgeRow {
    #[diesel(sql_type = Text)]
    derivation_id: String,
    #[diesel(sql_type = Text)]
    dataset_id: String,
    #[diesel(sql_type = Text)]
    source_id: String,
    #[diesel(sql_type = Integer)]
    source_version: i32,
    #[diesel(sql_type = Integer)]
    depth: i32,
}

/// Edges reachable from `root` within `depth` steps in one direction, with
/// the least distance at which each was reached; at most `limit` edges.
fn walk(
    conn: &mut DbConnection,
    root: &str,
    upstream: bool,
    depth: u32,
    limit: u32,
) -> Result<Vec<EdgeRow>> {
    let (start, join) = if upstream {
        ("dataset_id", "s.dataset_id = w.source_id")
    } else {
        ("source_id", "s.source_id = w.dataset_id")
    };
    let sql = dialect::numbered(
        conn,
        &format!(
            "WITH RECURSIVE walk(derivation_id, dataset_id, source_id, source_version, depth) AS (
                 SELECT derivation_id, dataset_id, source_id, source_version, 1
                 FROM dataset_sources WHERE {start} = $1
                 UNION
                 SELECT s.derivation_id, s.dataset_id, s.source_id, s.source_version, w.depth + 1
                 FROM dataset_sources s JOIN walk w ON {join}
                 WHERE w.depth < $2
             )
             SELECT derivation_id, dataset_id, source_id, source_version, MIN(depth) AS depth
             FROM walk
             GROUP BY derivation_id, dataset_id, source_id, source_version
             ORDER BY depth, dataset_id, source_id
             LIMIT $3"
        ),
    );
    Ok(diesel::sql_query(sql)
        .bind::<Text, _>(root)
        .bind::<Integer, _>(i32::try_from(depth).unwrap_or(i32::MAX))
        .bind::<Integer, _>(i32::try_from(limit).unwrap_or(i32::MAX))
        .load(conn)?)
}

fn load_rows(
    conn: &mut DbConnection,
    ids: &BTreeSet<String>,
) -> Result<HashMap<String, DatasetRow>> {
    let ids: Vec<String> = ids.iter().cloned().collect();
    Ok(rows::load_many(conn, &ids)?
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect())
}

/// The ids among the loaded rows the actor may see.
fn visible_among(
    conn: &mut DbConnection,
    actor: Option<&Actor>,
    rows: &HashMap<String, DatasetRow>,
) -> Result<HashSet<String>> {
    let listings = rows
        .values()
        .map(DatasetRow::listing)
        .collect::<Result<Vec<Listing>>>()?;
    Ok(access::visible_among(conn, actor, &listings)?
        .into_iter()
        .map(|id| id.to_string())
        .collect())
}

/// A walked graph with visibility decided for every node.
struct Graph {
    root: String,
    edges: Vec<EdgeRow>,
    depth_of: BTreeMap<String, u32>,
    rows: HashMap<String, DatasetRow>,
    visible: HashSet<String>,
    truncated: bool,
}

impl Graph {
    fn build(
        conn: &mut DbConnection,
        actor: Option<&Actor>,
        root: &DatasetRow,
        direction: Direction,
        depth: u32,
        max_edges: u32,
    ) -> Result<Graph> {
        let mut edges = Vec::new();
        let mut truncated = false;
        let mut depth_of = BTreeMap::from([(root.id.clone(), 0u32)]);
        for upstream in [true, false] {
            let wanted = match direction {
                Direction::Upstream => upstream,
                Direction::Downstream => !upstream,
                Direction::Both => true,
            };
            if !wanted {
                continue;
            }
            let mut found = walk(conn, &root.id, upstream, depth, max_edges.saturating_add(1))?;
            if found.len() > max_edges as usize {
                found.truncate(max_edges as usize);
                truncated = true;
            }
            for edge in &found {
                let far = if upstream {
                    &edge.source_id
                } else {
                    &edge.dataset_id
                };
                let d = edge.depth.max(0) as u32;
                depth_of
                    .entry(far.clone())
                    .and_modify(|e| *e = (*e).min(d))
                    .or_insert(d);
            }
            edges.extend(found);
        }
        let ids: BTreeSet<String> = depth_of.keys().cloned().collect();
        let rows = load_rows(conn, &ids)?;
        let visible = visible_among(conn, actor, &rows)?;
        Ok(Graph {
            root: root.id.clone(),
            edges,
            depth_of,
            rows,
            visible,
            truncated,
        })
    }

    /// Node ids as shown: real for visible datasets, opaque otherwise.
    fn shown_ids(&self) -> HashMap<String, String> {
        let mut restricted = 0;
        self.depth_of
            .keys()
            .map(|id| {
                let shown = if self.visible.contains(id) || *id == self.root {
                    id.clone()
                } else {
                    restricted += 1;
                    format!("restricted-{restricted}")
                };
                (id.clone(), shown)
            })
            .collect()
    }
}

fn parse_depth(market: &Market, depth: Option<u32>) -> Result<u32> {
    let lineage = &market.settings.lineage;
    match depth {
        None => Ok(lineage.default_depth),
        Some(d) if (1..=lineage.max_depth).contains(&d) => Ok(d),
        Some(_) => Err(Error::refused(
            Code::InvalidParameter,
            format!("depth must be between 1 and {}", lineage.max_depth),
        )
        .with("parameter", "depth")),
    }
}

/// The lineage graph around a dataset.
pub async fn lineage(
    market: &Market,
    actor: Option<&Actor>,
    dataset: Uuid,
    direction: Direction,
    depth: Option<u32>,
) -> Result<Lineage> {
    let depth = parse_depth(market, depth)?;
    let max_edges = market.settings.lineage.max_nodes;
    let actor = actor.cloned();
    market
        .db
        .read(move |conn| {
            let root = load_visible(conn, actor.as_ref(), dataset)?;
            let graph = Graph::build(conn, actor.as_ref(), &root, direction, depth, max_edges)?;
            let shown = graph.shown_ids();
            let mut nodes = Vec::with_capacity(graph.depth_of.len());
            for (id, d) in &graph.depth_of {
                let visible = graph.visible.contains(id) || *id == graph.root;
                let row = graph.rows.get(id).filter(|_| visible);
                nodes.push(LineageNode {
                    id: shown[id].clone(),
                    restricted: !visible,
                    depth: *d,
                    title: row.map(|r| r.title.clone()),
                    status: row.map(|r| r.status),
                    provider: row.map(DatasetRow::provider).transpose()?,
                });
            }
            nodes.sort_by(|a, b| a.depth.cmp(&b.depth).then_with(|| a.id.cmp(&b.id)));
            let edges = graph
                .edges
                .iter()
                .map(|e| {
                    let open = graph.visible.contains(&e.dataset_id)
                        && graph.visible.contains(&e.source_id);
                    Ok(LineageEdge {
                        derived: shown[&e.dataset_id].clone(),
                        source: shown[&e.source_id].clone(),
                        version: e.source_version,
                        activity: if open {
                            Some(domain::id_from_db(&e.derivation_id)?)
                        } else {
                            None
                        },
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(Lineage {
                root: dataset,
                direction,
                depth,
                nodes,
                edges,
                truncated: graph.truncated,
            })
        })
        .await
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = crate::store::schema::derivations)]
struct DerivationRow {
    id: String,
    dataset_id: String,
    name: String,
    description: String,
    agent_id: String,
    created_at: chrono::NaiveDateTime,
}

/// The upstream graph of a dataset as a W3C PROV-JSON document: versions
/// are entities, derivations activities, accounts agents.
pub async fn provenance(market: &Market, actor: Option<&Actor>, dataset: Uuid) -> Result<Value> {
    let depth = market.settings.lineage.max_depth;
    let max_edges = market.settings.lineage.max_nodes;
    let actor = actor.cloned();
    market
        .db
        .read(move |conn| {
            let root = load_visible(conn, actor.as_ref(), dataset)?;
            let graph = Graph::build(
                conn,
                actor.as_ref(),
                &root,
                Direction::Upstream,
                depth,
                max_edges,
            )?;
            let facts = prov_facts(conn, graph)?;
            Ok(prov::render(&facts))
        })
        .await
}

/// Loads what the PROV document states: the graph, the visible datasets'
/// versions, the derivations that made them and their agents' names.
fn prov_facts(conn: &mut DbConnection, graph: Graph) -> Result<prov::Facts> {
    let visible = |id: &String| graph.visible.contains(id) || *id == graph.root;
    let visible_ids: Vec<String> = graph
        .depth_of
        .keys()
        .filter(|id| visible(id))
        .cloned()
        .collect();
    let versions = rows::versions_of(conn, &visible_ids)?;
    let derivation_ids: BTreeSet<String> = graph
        .edges
        .iter()
        .filter(|e| visible(&e.dataset_id))
        .map(|e| e.derivation_id.clone())
        .collect();
    let derivation_list: Vec<String> = derivation_ids.into_iter().collect();
    let mut activities: Vec<DerivationRow> = Vec::new();
    for chunk in derivation_list.chunks(CHUNK) {
        activities.extend(
            derivations::table
                .filter(derivations::id.eq_any(chunk))
                .select(DerivationRow::as_select())
                .load::<DerivationRow>(conn)?,
        );
    }
    let mut agent_ids: BTreeSet<String> = visible_ids
        .iter()
        .filter_map(|id| graph.rows.get(id).map(|r| r.provider_id.clone()))
        .collect();
    agent_ids.extend(activities.iter().map(|a| a.agent_id.clone()));
    let agent_list: Vec<String> = agent_ids.into_iter().collect();
    let agents = crate::accounts::labels(conn, &agent_list)?;
    let shown = graph.shown_ids();
    Ok(prov::Facts {
        nodes: graph
            .depth_of
            .keys()
            .map(|id| prov::Node {
                id: id.clone(),
                shown: shown[id].clone(),
                dataset: graph
                    .rows
                    .get(id)
                    .filter(|_| visible(id))
                    .map(|r| prov::NodeDataset {
                        title: r.title.clone(),
                        classification: r.classification,
                        status: r.status,
                        provider: r.provider_id.clone(),
                    }),
            })
            .collect(),
        versions: versions
            .into_iter()
            .map(|v| prov::NodeVersion {
                dataset: v.dataset_id,
                number: v.number,
                sha256: v.sha256,
                size: v.size,
                media_type: v.media_type,
            })
            .collect(),
        activities: activities
            .into_iter()
            .map(|a| prov::Activity {
                id: a.id,
                dataset: a.dataset_id,
                name: a.name,
                description: a.description,
                agent: a.agent_id,
                started: domain::format_time(domain::from_db_time(a.created_at)),
            })
            .collect(),
        used: graph
            .edges
            .iter()
            .map(|e| prov::Used {
                derivation: e.derivation_id.clone(),
                derived: e.dataset_id.clone(),
                source: e.source_id.clone(),
                version: e.source_version,
            })
            .collect(),
        agents,
    })
}
