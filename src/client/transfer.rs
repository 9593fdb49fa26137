//! Payloads over HTTP: uploads streamed from disk, and resumable downloads
//! checked against the version's SHA-256 before they are kept.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use futures_util::TryStreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, RANGE};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

use super::error::{Failure, Kind, Result};
use super::session::Session;

/// A progress bar on standard error, or a hidden one when standard error is
/// not a terminal (a log file, a pipe, a CI job).
pub fn progress(total: Option<u64>, message: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(total) => ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
    };
    let template = if total.is_some() {
        "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}"
    } else {
        "{msg} {spinner} {bytes} {binary_bytes_per_sec}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message.to_owned());
    bar
}

/// A media type for a file, from its extension.
pub fn guess_media_type(path: &Path) -> &'static str {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match extension.as_str() {
        "csv" => "text/csv",
        "tsv" => "text/tab-separated-values",
        "txt" => "text/plain",
        "json" => "application/json",
        "jsonl" | "ndjson" => "application/x-ndjson",
        "xml" => "application/xml",
        "parquet" => "application/vnd.apache.parquet",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

/// Uploads `file` as a new version of `dataset`, streamed from disk (never
/// read whole into memory) with its length declared up front.
pub async fn upload(
    session: &Session,
    dataset: Uuid,
    file: &Path,
    media_type: &str,
) -> Result<Value> {
    let what = format!("POST /datasets/{dataset}/versions");
    let opened = tokio::fs::File::open(file)
        .await
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", file.display())))?;
    let length = opened
        .metadata()
        .await
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", file.display())))?
        .len();
    let bar = progress(Some(length), "uploading");
    let counter = bar.clone();
    let stream = tokio_util::io::ReaderStream::with_capacity(opened, 256 * 1024)
        .inspect_ok(move |chunk| counter.inc(chunk.len() as u64));
    let request = session
        .request(Method::POST, &format!("/datasets/{dataset}/versions"))
        .header(CONTENT_TYPE, media_type)
        .header(CONTENT_LENGTH, length)
        .body(reqwest::Body::wrap_stream(stream));
    let result = session.json(&what, request).await;
    bar.finish_and_clear();
    result
}

/// What to download and where.
#[derive(Clone, Debug)]
pub struct Download {
    pub dataset: Uuid,
    /// The version; default: the token's version, else the newest available.
    pub version: Option<i32>,
    /// A data token to present instead of the session's account token.
    pub data_token: Option<String>,
    /// Where to put the payload; default `DATASET-vN` in the working
    /// directory. A directory gets that name inside it.
    pub file: Option<PathBuf>,
}

/// A payload downloaded and checked.
#[derive(Clone, Debug, Serialize)]
pub struct Downloaded {
    pub dataset: Uuid,
    pub version: i32,
    pub file: PathBuf,
    pub size: u64,
    pub sha256: String,
    /// Bytes already in the partial file when the download started.
    pub resumed_from: u64,
    /// Bytes received in this run.
    pub received: u64,
    /// The audit log entry that recorded the delivery, if one was made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_index: Option<String>,
}

/// What the versions list says of one version.
struct Expected {
    version: i32,
    sha256: Option<String>,
    size: Option<u64>,
}

/// The version to fetch and its SHA-256 and size from
/// `GET /datasets/{id}/versions` (as the session's account, or anonymously
/// when that is refused and a data token does the download).
async fn expected(session: &Session, spec: &Download) -> Result<Expected> {
    let path = format!("/datasets/{}/versions", spec.dataset);
    let what = format!("GET {path}");
    let mut listed = session
        .json(&what, session.request(Method::GET, &path))
        .await;
    if spec.data_token.is_some()
        && session.token().is_some()
        && matches!(&listed, Err(f) if matches!(f.kind, Kind::Auth | Kind::NotFound))
    {
        listed = session
            .json(&what, session.request_as(Method::GET, &path, None))
            .await;
    }
    let versions = match listed {
        Ok(Value::Array(versions)) => versions,
        Ok(_) => return Err(Failure::other(format!("{what}: not a list of versions"))),
        // A data token alone may not see the listing (a delisted dataset):
        // then the ETag of the payload itself is the SHA-256 to check.
        Err(f) if spec.data_token.is_some() && matches!(f.kind, Kind::Auth | Kind::NotFound) => {
            return match spec.version {
                Some(version) => Ok(Expected {
                    version,
                    sha256: None,
                    size: None,
                }),
                None => Err(f.with_hint("name the version with --version")),
            };
        }
        Err(f) => return Err(f),
    };
    let wanted = match spec.version {
        Some(v) => versions
            .iter()
            .find(|v2| v2["version"].as_i64() == Some(v as i64)),
        None => versions
            .iter()
            .filter(|v| v["status"] == "available")
            .max_by_key(|v| v["version"].as_i64()),
    };
    match wanted {
        Some(v) => Ok(Expected {
            version: v["version"].as_i64().unwrap_or_default() as i32,
            sha256: v["sha256"].as_str().map(str::to_ascii_lowercase),
            size: v["size"].as_u64(),
        }),
        None => match spec.version {
            Some(n) => Err(Failure::new(
                Kind::NotFound,
                format!("dataset {} has no version {n}", spec.dataset),
            )),
            None => Err(Failure::new(
                Kind::NotFound,
                format!("dataset {} has no available version", spec.dataset),
            )),
        },
    }
}

fn io_failure(what: &str, path: &Path, e: std::io::Error) -> Failure {
    Failure::other(format!("cannot {what} {}: {e}", path.display()))
}

fn part_path(file: &Path) -> PathBuf {
    let mut name = file
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".part");
    file.with_file_name(name)
}

/// Hashes what is already in the partial file.
async fn hash_existing(part: &Path, hasher: &mut Sha256) -> Result<u64> {
    let mut file = match tokio::fs::File::open(part).await {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io_failure("read", part, e)),
    };
    let mut buffer = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = file
            .read(&mut buffer)
            .await
            .map_err(|e| io_failure("read", part, e))?;
        if n == 0 {
            return Ok(total);
        }
        hasher.update(&buffer[..n]);
        total += n as u64;
    }
}

/// The first byte of a `Content-Range: bytes a-b/n` answer.
fn range_start(value: Option<&reqwest::header::HeaderValue>) -> Option<u64> {
    let text = value?.to_str().ok()?;
    let range = text.trim().strip_prefix("bytes ")?;
    range.split('-').next()?.trim().parse().ok()
}

/// Downloads a version into `FILE.part`, resuming from what a partial file
/// already holds (`Range: bytes=<len>-`), checks the SHA-256 of the whole
/// file against the version's, and only then renames it into place. A
/// mismatch deletes the partial file (it was corrupted) and fails with
/// [`Kind::Integrity`]; an interrupted transfer keeps it for the next run.
pub async fn download(session: &Session, spec: &Download) -> Result<Downloaded> {
    let expected = expected(session, spec).await?;
    let version = expected.version;
    let default_name = format!("{}-v{version}", spec.dataset);
    let file = match &spec.file {
        Some(path) if path.is_dir() => path.join(&default_name),
        Some(path) => path.clone(),
        None => PathBuf::from(&default_name),
    };
    let part = part_path(&file);
    let mut hasher = Sha256::new();
    let mut have = hash_existing(&part, &mut hasher).await?;
    let resumed_from = have;
    let corrupted = |reason: String| -> Failure {
        let _ = std::fs::remove_file(&part);
        Failure::integrity(format!(
            "{reason}; the partial file {} was corrupt and has been deleted: run the command again to download afresh",
            part.display()
        ))
    };
    if let Some(size) = expected.size
        && have > size
    {
        return Err(corrupted(format!(
            "the partial file holds {have} bytes, more than version {version}'s {size}"
        )));
    }
    let mut received = 0u64;
    let mut served_sha = None;
    let mut audit_index = None;
    let complete = expected.size.is_some_and(|size| have == size && size > 0);
    if !complete {
        let path = format!("/datasets/{}/versions/{version}/content", spec.dataset);
        let what = format!("GET {path}");
        let token = spec.data_token.as_deref().or(session.token());
        let mut request = session.request_as(Method::GET, &path, token);
        if have > 0 {
            request = request.header(RANGE, format!("bytes={have}-"));
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| Failure::transport(&what, &e))?;
        let status = response.status();
        if status == StatusCode::RANGE_NOT_SATISFIABLE {
            return Err(corrupted(format!(
                "the server has no bytes beyond the partial file's {have}"
            )));
        }
        if !status.is_success() {
            return Err(session.failure(&what, response).await);
        }
        served_sha = response
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim_matches('"').to_ascii_lowercase());
        audit_index = response
            .headers()
            .get("audit-index")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut append = have > 0;
        if status == StatusCode::PARTIAL_CONTENT {
            if range_start(response.headers().get(CONTENT_RANGE)) != Some(have) {
                return Err(Failure::other(format!(
                    "{what}: the server sent another range than the one asked for"
                )));
            }
        } else if have > 0 {
            // The whole payload came instead of the rest: start over.
            append = false;
            hasher = Sha256::new();
            have = 0;
        }
        let total = expected
            .size
            .or_else(|| response.content_length().map(|n| n + have));
        let mut out = tokio::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(&part)
            .await
            .map_err(|e| io_failure("write", &part, e))?;
        let bar = progress(total, "downloading");
        bar.set_position(have);
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => {
                    let _ = out.flush().await;
                    bar.abandon();
                    return Err(Failure::transport(&what, &e).with_hint(&format!(
                        "the download was interrupted after {} bytes; {} is kept: run the same command again to resume",
                        have + received,
                        part.display()
                    )));
                }
            };
            out.write_all(&chunk)
                .await
                .map_err(|e| io_failure("write", &part, e))?;
            hasher.update(&chunk);
            received += chunk.len() as u64;
            bar.inc(chunk.len() as u64);
        }
        out.flush()
            .await
            .map_err(|e| io_failure("write", &part, e))?;
        out.sync_all()
            .await
            .map_err(|e| io_failure("write", &part, e))?;
        bar.finish_and_clear();
    }
    let size = have + received;
    let sha256 = hex::encode(hasher.finalize());
    let want = expected.sha256.or(served_sha).ok_or_else(|| {
        Failure::other("the server named no SHA-256 for the payload: nothing to check it against")
    })?;
    if let Some(expected_size) = expected.size
        && size != expected_size
    {
        return Err(corrupted(format!(
            "the file holds {size} bytes, version {version} has {expected_size}"
        )));
    }
    if sha256 != want {
        return Err(corrupted(format!(
            "SHA-256 mismatch: the downloaded file hashes to {sha256}, version {version} is {want}"
        )));
    }
    std::fs::rename(&part, &file).map_err(|e| io_failure("rename into place", &part, e))?;
    Ok(Downloaded {
        dataset: spec.dataset,
        version,
        file,
        size,
        sha256,
        resumed_from,
        received,
        audit_index,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_files_sit_beside_the_file() {
        assert_eq!(
            part_path(Path::new("a/b.csv")),
            PathBuf::from("a/b.csv.part")
        );
        assert_eq!(part_path(Path::new("x")), PathBuf::from("x.part"));
    }

    #[test]
    fn content_range_start() {
        let v = reqwest::header::HeaderValue::from_static("bytes 100-199/200");
        assert_eq!(range_start(Some(&v)), Some(100));
        assert_eq!(range_start(None), None);
    }

    #[test]
    fn media_types_from_extensions() {
        assert_eq!(guess_media_type(Path::new("t.CSV")), "text/csv");
        assert_eq!(guess_media_type(Path::new("t")), "application/octet-stream");
    }
}
