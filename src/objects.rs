//! Payload storage behind the `object_store` interface: a local directory by
//! default, any S3-compatible store by configuration. Uploads are streamed in
//! parts, hashed on the way and never held whole in memory.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, WriteMultipart};
use sha2::{Digest, Sha256};

use crate::config::{StorageBackend, StorageSettings};

/// Parts of this size are handed to the store; at most `MAX_PARTS_IN_FLIGHT`
/// are buffered, which bounds an upload's memory.
const PART_SIZE: usize = 5 * 1024 * 1024;
const MAX_PARTS_IN_FLIGHT: usize = 2;

#[derive(Debug, thiserror::Error)]
pub enum PutError {
    #[error("the payload exceeds the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the upload was interrupted: {0}")]
    Interrupted(String),
    #[error(transparent)]
    Store(#[from] object_store::Error),
}

/// What a finished upload wrote.
#[derive(Clone, Debug)]
pub struct Stored {
    pub size: u64,
    pub sha256: [u8; 32],
}

/// A payload being read back.
pub struct Fetched {
    pub size: u64,
    pub range: Range<u64>,
    pub body: futures_util::stream::BoxStream<'static, Result<Bytes, object_store::Error>>,
}

/// Bytes read from a local payload file per step: large reads keep the
/// per-chunk overhead (a hop to a blocking thread, a buffer) small next to
/// the copying, and bound what one download holds in memory.
const LOCAL_READ: usize = 1024 * 1024;

/// A read of at most this many bytes from the file backend is done on the
/// request's own thread, as SQLite's reads by key are: from the page cache
/// it takes a few microseconds, less than the hop to a blocking thread and
/// back (a tenth of the CPU of 4 KiB deliveries went to that hop). This
/// assumes the objects directory is on a local disk: on a slow or network
/// file system such a read would hold up the worker's other connections.
const SMALL_READ: u64 = 64 * 1024;

#[derive(Clone)]
pub struct Objects {
    store: Arc<dyn ObjectStore>,
    /// The directory of the file backend, read directly on the way out.
    local_root: Option<std::path::PathBuf>,
}

impl Objects {
    pub fn open(settings: &StorageSettings) -> Result<Objects, object_store::Error> {
        let store: Arc<dyn ObjectStore> = match settings.backend {
            StorageBackend::File => {
                crate::config::create_private_dir(&settings.objects_dir).map_err(|e| {
                    object_store::Error::Generic {
                        store: "LocalFileSystem",
                        source: Box::new(e),
                    }
                })?;
                let store: Arc<dyn ObjectStore> = Arc::new(
                    object_store::local::LocalFileSystem::new_with_prefix(&settings.objects_dir)?,
                );
                return Ok(Objects {
                    store,
                    local_root: Some(settings.objects_dir.clone()),
                });
            }
            StorageBackend::S3 => {
                let s3 = &settings.s3;
                let mut builder = object_store::aws::AmazonS3Builder::new()
                    .with_bucket_name(&s3.bucket)
                    .with_region(&s3.region)
                    .with_allow_http(s3.allow_http);
                if !s3.endpoint.is_empty() {
                    builder = builder.with_endpoint(&s3.endpoint);
                }
                if !s3.access_key_id.is_empty() {
                    builder = builder
                        .with_access_key_id(&s3.access_key_id)
                        .with_secret_access_key(s3.secret_access_key.expose());
                }
                Arc::new(builder.build()?)
            }
        };
        Ok(Objects {
            store,
            local_root: None,
        })
    }

    /// Every key the store holds (for checks and tests: it reads the whole
    /// listing).
    pub async fn keys(&self) -> Result<Vec<String>, object_store::Error> {
        use futures_util::TryStreamExt;
        let mut keys: Vec<String> = self
            .store
            .list(None)
            .map_ok(|meta| meta.location.to_string())
            .try_collect()
            .await?;
        keys.sort();
        Ok(keys)
    }

    /// Streams `body` to `key`, computing SHA-256 and size on the way. Past
    /// `limit` bytes the upload is aborted and nothing is kept.
    pub async fn put_stream<S, E>(
        &self,
        key: &str,
        mut body: S,
        limit: u64,
    ) -> Result<Stored, PutError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let path = ObjectPath::from(key);
        let upload = self.store.put_multipart(&path).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        let failure = loop {
            let chunk = match body.next().await {
                None => break None,
                Some(Err(e)) => break Some(PutError::Interrupted(e.to_string())),
                Some(Ok(chunk)) => chunk,
            };
            size += chunk.len() as u64;
            if size > limit {
                break Some(PutError::TooLarge { limit });
            }
            hasher.update(&chunk);
            if let Err(e) = writer.wait_for_capacity(MAX_PARTS_IN_FLIGHT).await {
                break Some(e.into());
            }
            writer.put(chunk);
        };
        if let Some(error) = failure {
            if let Err(abort_error) = writer.abort().await {
                tracing::warn!(%key, error = %abort_error, "could not abort a refused upload");
            }
            return Err(error);
        }
        writer.finish().await?;
        Ok(Stored {
            size,
            sha256: hasher.finalize().into(),
        })
    }

    /// Reads `key`, or the byte range `range` of it. `recorded` is the size
    /// the catalog recorded for it: on the file backend a file of another
    /// size is refused (its bytes are not the ones whose SHA-256 was
    /// recorded), and a small read is done in place (see [`SMALL_READ`]).
    pub async fn get(
        &self,
        key: &str,
        range: Option<Range<u64>>,
        recorded: u64,
    ) -> Result<Fetched, object_store::Error> {
        if let Some(root) = &self.local_root {
            let range = range.unwrap_or(0..recorded);
            let path = root.join(key);
            if range.end.saturating_sub(range.start) <= SMALL_READ {
                return local_read_small(&path, range, recorded);
            }
            return local_get(path, range, recorded).await;
        }
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let result = self.store.get_opts(&ObjectPath::from(key), options).await?;
        Ok(Fetched {
            size: result.meta.size,
            range: result.range.clone(),
            body: result.into_stream(),
        })
    }

    /// Removes `key`; a missing object is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), object_store::Error> {
        match self.store.delete(&ObjectPath::from(key)).await {
            Err(object_store::Error::NotFound { .. }) => Ok(()),
            other => other,
        }
    }

    /// Writes a small object in one piece (tests, tools).
    pub async fn put_bytes(&self, key: &str, bytes: Bytes) -> Result<(), object_store::Error> {
        self.store
            .put(&ObjectPath::from(key), bytes.into())
            .await
            .map(|_| ())
    }
}

fn local_error(path: &std::path::Path, source: std::io::Error) -> object_store::Error {
    match source.kind() {
        std::io::ErrorKind::NotFound => object_store::Error::NotFound {
            path: path.display().to_string(),
            source: Box::new(source),
        },
        _ => object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(source),
        },
    }
}

/// Reads a payload of the file backend straight from its file: opening it,
/// sizing it and reading the first step in one hop to a blocking thread,
/// then one hop per step of `LOCAL_READ` bytes (object_store's local reader
/// takes 8 KiB at a time, each on a blocking thread of its own).
async fn local_get(
    path: std::path::PathBuf,
    range: Range<u64>,
    recorded: u64,
) -> Result<Fetched, object_store::Error> {
    let opened = tokio::task::spawn_blocking(move || {
        open_first_step(&path, range, recorded)
            .map(|(file, size, range, first)| (file, path, size, range, first))
    })
    .await
    .map_err(|e| object_store::Error::Generic {
        store: "LocalFileSystem",
        source: Box::new(e),
    })??;
    let (file, path, size, range, first) = opened;
    let remaining = range.end - range.start - first.len() as u64;
    let rest = futures_util::stream::try_unfold(
        (Some(file), remaining, path),
        |(file, remaining, path)| async move {
            let Some(mut file) = file.filter(|_| remaining > 0) else {
                return Ok(None);
            };
            let (file, path, chunk) = tokio::task::spawn_blocking(move || {
                let chunk = read_step(&mut file, &path, remaining);
                (file, path, chunk)
            })
            .await
            .map_err(|e| object_store::Error::Generic {
                store: "LocalFileSystem",
                source: Box::new(e),
            })?;
            let chunk = chunk?;
            let remaining = remaining - chunk.len() as u64;
            Ok(Some((chunk, (Some(file), remaining, path))))
        },
    );
    let first = futures_util::stream::iter((!first.is_empty()).then_some(Ok(first)));
    Ok(Fetched {
        size,
        range,
        body: Box::pin(first.chain(rest)),
    })
}

/// Reads `range` of a payload of the file backend whole, on the calling
/// thread: it is at most [`SMALL_READ`] bytes, so one step.
fn local_read_small(
    path: &std::path::Path,
    range: Range<u64>,
    recorded: u64,
) -> Result<Fetched, object_store::Error> {
    let (_, size, range, first) = open_first_step(path, range, recorded)?;
    Ok(Fetched {
        size,
        range,
        body: Box::pin(futures_util::stream::iter(
            (!first.is_empty()).then_some(Ok(first)),
        )),
    })
}

/// Opens a payload file, refuses it unless it holds the `recorded` size,
/// checks `range` against that size, and reads the first step of the range.
fn open_first_step(
    path: &std::path::Path,
    range: Range<u64>,
    recorded: u64,
) -> Result<(std::fs::File, u64, Range<u64>, Bytes), object_store::Error> {
    use std::io::Seek;
    let mut file = std::fs::File::open(path).map_err(|e| local_error(path, e))?;
    let size = file.metadata().map_err(|e| local_error(path, e))?.len();
    if size != recorded {
        return Err(object_store::Error::Generic {
            store: "LocalFileSystem",
            source: format!(
                "{} holds {size} bytes where {recorded} were recorded",
                path.display()
            )
            .into(),
        });
    }
    if range.start > range.end || range.end > size {
        return Err(object_store::Error::Generic {
            store: "LocalFileSystem",
            source: format!("range {range:?} outside a payload of {size} bytes").into(),
        });
    }
    if range.start > 0 {
        file.seek(std::io::SeekFrom::Start(range.start))
            .map_err(|e| local_error(path, e))?;
    }
    let first = read_step(&mut file, path, range.end - range.start)?;
    Ok((file, size, range, first))
}

/// Reads the next step of at most `LOCAL_READ` of the `remaining` bytes.
fn read_step(
    file: &mut std::fs::File,
    path: &std::path::Path,
    remaining: u64,
) -> Result<Bytes, object_store::Error> {
    use std::io::Read;
    let want = remaining.min(LOCAL_READ as u64) as usize;
    let mut buffer = Vec::with_capacity(want);
    file.take(want as u64)
        .read_to_end(&mut buffer)
        .map_err(|e| local_error(path, e))?;
    if buffer.len() < want {
        return Err(local_error(
            path,
            std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the payload file is shorter than recorded",
            ),
        ));
    }
    Ok(Bytes::from(buffer))
}
