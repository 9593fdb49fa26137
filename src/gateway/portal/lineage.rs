//! A dataset's lineage as the page draws it: sources to the left, products
//! derived from it to the right, three steps each way, as an SVG the server
//! lays out (no script).

use std::collections::HashMap;

use uuid::Uuid;

use super::i18n::Tr;
use crate::catalog::lineage::{self, Direction, Lineage};
use crate::domain::Actor;
use crate::market::Market;

const STEPS: u32 = 3;
const COLUMN: i64 = 230;
const ROW: i64 = 46;
const BOX_WIDTH: i64 = 200;
const BOX_HEIGHT: i64 = 32;

pub(super) struct Node {
    pub x: i64,
    pub y: i64,
    pub label: String,
    /// Where the box links to; none for a dataset the visitor may not see.
    pub href: Option<String>,
    pub root: bool,
}

pub(super) struct Edge {
    pub x1: i64,
    pub y1: i64,
    pub x2: i64,
    pub y2: i64,
}

pub(super) struct Drawing {
    pub width: i64,
    pub height: i64,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

impl Drawing {
    /// Whether there is more than the dataset itself to draw.
    pub fn is_empty(&self) -> bool {
        self.nodes.len() <= 1
    }
}

pub(super) async fn draw(
    market: &Market,
    actor: Option<&Actor>,
    tr: &Tr,
    dataset: Uuid,
    title: &str,
) -> Drawing {
    let side = |direction| async move {
        lineage::lineage(market, actor, dataset, direction, Some(STEPS))
            .await
            .ok()
    };
    let (up, down) = (
        side(Direction::Upstream).await,
        side(Direction::Downstream).await,
    );
    // Column of each node: sources negative, products positive.
    let mut column: HashMap<String, (i64, Option<String>, bool)> = HashMap::new();
    column.insert(dataset.to_string(), (0, Some(title.to_owned()), false));
    let mut edges: Vec<(String, String)> = Vec::new();
    for (graph, sign) in [(&up, -1), (&down, 1)] {
        let Some(Lineage {
            nodes, edges: e, ..
        }) = graph
        else {
            continue;
        };
        for n in nodes.iter().filter(|n| n.depth > 0) {
            column.entry(n.id.clone()).or_insert((
                sign * i64::from(n.depth),
                n.title.clone(),
                n.restricted,
            ));
        }
        edges.extend(e.iter().map(|e| (e.source.clone(), e.derived.clone())));
    }
    let lowest = column.values().map(|c| c.0).min().unwrap_or(0);
    let highest = column.values().map(|c| c.0).max().unwrap_or(0);
    let mut ids: Vec<&String> = column.keys().collect();
    ids.sort_by_key(|id| (column[*id].0, column[*id].1.clone(), (*id).clone()));
    let mut rows: HashMap<i64, i64> = HashMap::new();
    let mut place: HashMap<String, (i64, i64)> = HashMap::new();
    let mut nodes = Vec::new();
    for id in ids {
        let (col, label, restricted) = &column[id];
        let row = rows.entry(*col).or_insert(0);
        let (x, y) = ((col - lowest) * COLUMN + 10, *row * ROW + 10);
        *row += 1;
        place.insert(id.clone(), (x, y));
        let label = match (restricted, label) {
            (true, _) | (_, None) => tr.t("lineage-restricted"),
            (false, Some(title)) => title.chars().take(24).collect(),
        };
        nodes.push(Node {
            x,
            y,
            label,
            href: (!restricted).then(|| format!("/catalog/{id}")),
            root: *id == dataset.to_string(),
        });
    }
    let edges = edges
        .iter()
        .filter_map(|(source, derived)| {
            let (sx, sy) = place.get(source)?;
            let (dx, dy) = place.get(derived)?;
            Some(Edge {
                x1: sx + BOX_WIDTH,
                y1: sy + BOX_HEIGHT / 2,
                x2: *dx,
                y2: dy + BOX_HEIGHT / 2,
            })
        })
        .collect();
    let tallest = rows.values().copied().max().unwrap_or(1);
    Drawing {
        width: (highest - lowest) * COLUMN + BOX_WIDTH + 20,
        height: tallest * ROW + 20,
        nodes,
        edges,
    }
}
