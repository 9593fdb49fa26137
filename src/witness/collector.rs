//! The market's side of witnessing: every `audit.witness_interval_secs`,
//! each instance sends the newest signed head to each configured witness,
//! with a consistency proof from the size that witness last cosigned for
//! this market, and keeps the cosignature it answers. A witness that
//! answers 409 names its size; the request is sent again once from there.
//! Heads are signed per batch of writes, so a round sends only the newest
//! one, and nothing when the witness already cosigned it. Several instances
//! may send the same head: the witness takes them one at a time, and the
//! store keeps one cosignature per witness and head.

use std::time::Duration;

use super::WitnessError;
use crate::audit::checkpoint::{Checkpoint, parse_signature_line};
use crate::audit::cosignature::{self, AddCheckpoint, Vkey};
use crate::audit::verify::hash_from_hex;
use crate::audit::{self, TreeHead};
use crate::market::Market;

/// A witness the market sends its checkpoints to.
#[derive(Clone, Debug)]
pub struct Target {
    pub url: String,
    pub vkey: Vkey,
}

/// What one submission came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The witness cosigned the head of this size (and it was kept).
    Cosigned(u64),
    /// The witness had cosigned this head already.
    Current(u64),
    /// The witness has cosigned a larger head (another instance's).
    Behind { witness_size: u64 },
}

/// The configured witnesses, their vkeys parsed.
pub fn targets(market: &Market) -> Result<Vec<Target>, WitnessError> {
    let vkeys = audit::configured_witnesses(&market.settings.audit)
        .map_err(|e| WitnessError::Config(e.to_string()))?;
    Ok(market
        .settings
        .audit
        .witnesses
        .iter()
        .zip(vkeys)
        .map(|(w, vkey)| Target {
            url: w.url.trim_end_matches('/').to_owned(),
            vkey,
        })
        .collect())
}

/// Starts the collector when witnesses are configured.
pub fn spawn_collector(
    market: Market,
) -> Result<Option<tokio::task::JoinHandle<()>>, WitnessError> {
    let targets = targets(&market)?;
    if targets.is_empty() {
        return Ok(None);
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| WitnessError::Config(e.to_string()))?;
    let period = Duration::from_secs(market.settings.audit.witness_interval_secs);
    Ok(Some(tokio::spawn(async move {
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            for target in &targets {
                match submit(&market, &client, target).await {
                    Ok(Outcome::Cosigned(size)) => {
                        tracing::info!(witness = %target.vkey.identity(), size, "checkpoint cosigned")
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(witness = %target.vkey.identity(), url = %target.url, error = %e, "no cosignature")
                    }
                }
            }
        }
    })))
}

/// Sends the newest signed head to one witness and keeps its cosignature.
pub async fn submit(
    market: &Market,
    client: &reqwest::Client,
    target: &Target,
) -> Result<Outcome, String> {
    let head = audit::tree_head(&market.db, None)
        .await
        .map_err(|e| e.to_string())?;
    let known = audit::last_cosigned(&market.db, &target.vkey)
        .await
        .map_err(|e| e.to_string())?;
    if known == Some(head.tree_size) {
        return Ok(Outcome::Current(head.tree_size));
    }
    let mut old = known.filter(|k| *k < head.tree_size).unwrap_or(0);
    for _ in 0..2 {
        match send(market, client, target, &head, old).await? {
            Sent::Cosigned(lines) => {
                let stored = keep(market, target, &head, &lines).await?;
                return Ok(if stored {
                    Outcome::Cosigned(head.tree_size)
                } else {
                    Outcome::Current(head.tree_size)
                });
            }
            Sent::Conflict(size) if size > head.tree_size => {
                return Ok(Outcome::Behind { witness_size: size });
            }
            Sent::Conflict(size) if size != old => old = size,
            Sent::Conflict(size) => {
                return Err(format!(
                    "the witness answers 409 with the size {size} that was sent"
                ));
            }
        }
    }
    Err("the witness's size keeps changing".into())
}

enum Sent {
    Cosigned(String),
    Conflict(u64),
}

async fn send(
    market: &Market,
    client: &reqwest::Client,
    target: &Target,
    head: &TreeHead,
    old: u64,
) -> Result<Sent, String> {
    let proof = if old == 0 || old == head.tree_size {
        Vec::new()
    } else {
        audit::consistency_proof(&market.db, old, Some(head.tree_size))
            .await
            .map_err(|e| e.to_string())?
            .proof
            .iter()
            .map(|h| hash_from_hex(h).ok_or_else(|| format!("proof hash {h} is not hex")))
            .collect::<Result<Vec<_>, _>>()?
    };
    let body = AddCheckpoint {
        old_size: old,
        proof,
        checkpoint: head.checkpoint.clone(),
    }
    .to_body();
    let url = format!("{}/add-checkpoint", target.url);
    let response = client
        .post(&url)
        .body(body)
        .send()
        .await
        .map_err(|e| format!("POST {url}: {e}"))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| format!("POST {url}: {e}"))?;
    match status.as_u16() {
        200 => Ok(Sent::Cosigned(text)),
        409 => cosignature::parse_size(text.trim_end_matches('\n'))
            .map(Sent::Conflict)
            .ok_or_else(|| format!("POST {url}: 409 without a size: {text:?}")),
        _ => Err(format!(
            "POST {url} (old {old}, size {}): {status}: {}",
            head.tree_size,
            text.trim_end()
        )),
    }
}

/// Verifies the witness's answer over the head and keeps its cosignature;
/// false when it was kept already.
async fn keep(
    market: &Market,
    target: &Target,
    head: &TreeHead,
    lines: &str,
) -> Result<bool, String> {
    let checkpoint = Checkpoint::parse(&head.checkpoint).map_err(|e| e.to_string())?;
    for line in lines.lines().filter(|l| !l.is_empty()) {
        let signature =
            parse_signature_line(line).map_err(|e| format!("the witness answered {e}"))?;
        if !target.vkey.matches(&signature) {
            continue;
        }
        let timestamp = cosignature::verify_cosignature(&target.vkey, &signature, &checkpoint.text)
            .map_err(|e| e.to_string())?;
        return audit::record_cosignature(
            &market.db,
            &target.vkey,
            head.tree_size,
            timestamp,
            line,
        )
        .await
        .map_err(|e| e.to_string());
    }
    Err(format!(
        "the answer holds no cosignature of {}: {:?}",
        target.vkey.identity(),
        lines.trim_end()
    ))
}
