//! read: where a table's files live. A source's `path` is a path in the
//! project, or (with the `object-storage` feature) a URL on object storage:
//! `s3://BUCKET/PREFIX`, `gs://BUCKET/PREFIX`, `az://CONTAINER/PREFIX`.
//! Every executor of a cluster must read the same data, which local paths
//! cannot promise.
//!
//! Stores are built from the environment, as each cloud's own tools do
//! (`AWS_ACCESS_KEY_ID`, `AWS_REGION`, `AWS_ENDPOINT`, ...; `GOOGLE_*`;
//! `AZURE_STORAGE_*`): credentials are never written in a project file,
//! which comes with pull requests. Reading from a bucket is opted into on
//! the command line (`--allow-read s3://BUCKET/PREFIX`), like a directory
//! outside the project.
//!
//! A file found on object storage travels through the front end and the
//! engine as a `PathBuf` holding its URL (`s3://bucket/key.parquet`), so
//! that messages show it as written; [`remote`] tells the two apart.

use std::path::Path;

/// The URL schemes of object storage metricc reads.
pub const SCHEMES: [&str; 3] = ["s3", "gs", "az"];

/// `written` when it is a URL on object storage (`s3://...`).
pub fn remote_url(written: &str) -> Option<&str> {
    let (scheme, rest) = written.split_once("://")?;
    (SCHEMES.contains(&scheme) && !rest.is_empty()).then_some(written)
}

/// The URL a file found on object storage carries, `None` for a local file.
pub fn remote(path: &Path) -> Option<&str> {
    path.to_str().and_then(remote_url)
}

/// Whether this build reads object storage.
pub const AVAILABLE: bool = cfg!(feature = "object-storage");

#[cfg(feature = "object-storage")]
pub use objects::{Registry, footers, list, store};

/// The footers of the files on object storage among `files`, by file; none
/// in a build without object storage, which finds no such file.
#[cfg(not(feature = "object-storage"))]
pub fn footers(
    _files: &[std::path::PathBuf],
) -> std::collections::HashMap<
    std::path::PathBuf,
    Result<datafusion::parquet::file::metadata::ParquetMetaData, String>,
> {
    std::collections::HashMap::new()
}

#[cfg(feature = "object-storage")]
mod objects {
    use datafusion::common::{DataFusionError, Result};
    use datafusion::datasource::physical_plan::parquet::metadata::DFParquetMetadata;
    use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
    use datafusion::parquet::file::metadata::ParquetMetaData;
    use futures::{StreamExt, TryStreamExt};
    use object_store::path::Path as ObjectPath;
    use object_store::{ObjectStore, ObjectStoreExt};
    use std::collections::HashMap;
    use std::path::PathBuf;
    use std::sync::{Arc, LazyLock, Mutex};
    use url::Url;

    /// The store of `url`'s bucket, configured from the environment once
    /// per process: a store holds its client and its credentials (which
    /// may come from an instance's metadata service), so each object of a
    /// source reuses them.
    pub fn store(url: &Url) -> Result<Arc<dyn ObjectStore>> {
        static STORES: LazyLock<Mutex<HashMap<String, Arc<dyn ObjectStore>>>> =
            LazyLock::new(Default::default);
        let bucket = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
        let mut stores = STORES.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = stores.get(&bucket) {
            return Ok(s.clone());
        }
        let built: Arc<dyn ObjectStore> = match url.scheme() {
            "s3" => Arc::new(
                object_store::aws::AmazonS3Builder::from_env()
                    .with_url(&bucket)
                    .build()?,
            ),
            "gs" => Arc::new(
                object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_url(&bucket)
                    .build()?,
            ),
            "az" => Arc::new(
                object_store::azure::MicrosoftAzureBuilder::from_env()
                    .with_url(&bucket)
                    .build()?,
            ),
            other => {
                return Err(DataFusionError::Configuration(format!(
                    "`{other}://` is not object storage metricc reads"
                )));
            }
        };
        stores.insert(bucket, built.clone());
        Ok(built)
    }

    /// DataFusion's registry of stores, which builds the store of a bucket
    /// from the environment the first time a plan reads it: on an
    /// executor, the first task that scans the bucket.
    #[derive(Debug, Default)]
    pub struct Registry {
        inner: DefaultObjectStoreRegistry,
    }

    impl ObjectStoreRegistry for Registry {
        fn register_store(
            &self,
            url: &Url,
            store: Arc<dyn ObjectStore>,
        ) -> Option<Arc<dyn ObjectStore>> {
            self.inner.register_store(url, store)
        }

        fn deregister_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
            self.inner.deregister_store(url)
        }

        fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
            match self.inner.get_store(url) {
                Ok(s) => Ok(s),
                Err(_) if super::SCHEMES.contains(&url.scheme()) => {
                    let s = store(url)?;
                    self.inner.register_store(url, s.clone());
                    Ok(s)
                }
                Err(e) => Err(e),
            }
        }
    }

    /// The objects below `url` (a prefix) or at it (one object), with
    /// their sizes, at most `limit` of them; `url` with no scheme's store
    /// or credentials is an error in words.
    pub fn list(url: &str, limit: usize) -> Result<Vec<(String, u64)>, String> {
        let parsed = Url::parse(url).map_err(|e| format!("`{url}` is not a URL: {e}"))?;
        let store = store(&parsed).map_err(|e| e.to_string())?;
        let bucket = format!(
            "{}://{}",
            parsed.scheme(),
            parsed.host_str().unwrap_or_default()
        );
        let key = ObjectPath::from_url_path(parsed.path()).map_err(|e| e.to_string())?;
        block_on(async move {
            // One object, when the URL names one.
            if let Ok(meta) = store.head(&key).await {
                return Ok(vec![(format!("{bucket}/{}", meta.location), meta.size)]);
            }
            let mut out = Vec::new();
            let mut listing = store.list(Some(&key));
            while let Some(meta) = listing.try_next().await.map_err(|e| e.to_string())? {
                out.push((format!("{bucket}/{}", meta.location), meta.size));
                if out.len() > limit {
                    break;
                }
            }
            out.sort();
            Ok(out)
        })
    }

    /// The footers of the files on object storage among `files`, by file:
    /// for each its size, then its end only, as DataFusion's scans read it.
    /// Requests are latency-bound, so up to [`FOOTERS_AT_ONCE`] objects are
    /// read at a time, on one runtime.
    pub fn footers(files: &[PathBuf]) -> HashMap<PathBuf, Result<ParquetMetaData, String>> {
        let remote: Vec<(&PathBuf, &str)> = files
            .iter()
            .filter_map(|f| Some((f, super::remote(f)?)))
            .collect();
        if remote.is_empty() {
            return HashMap::new();
        }
        let reads: Vec<_> = remote
            .iter()
            .map(|(_, url)| footer(url.to_string()))
            .collect();
        let read = block_on(async move {
            Ok(futures::stream::iter(reads)
                .buffered(FOOTERS_AT_ONCE)
                .collect::<Vec<_>>()
                .await)
        });
        match read {
            Ok(read) => remote.iter().map(|(f, _)| (*f).clone()).zip(read).collect(),
            Err(e) => remote
                .iter()
                .map(|(f, _)| ((*f).clone(), Err(e.clone())))
                .collect(),
        }
    }

    /// The footer of the object at `url`.
    async fn footer(url: String) -> Result<ParquetMetaData, String> {
        let parsed = Url::parse(&url).map_err(|e| e.to_string())?;
        let store = store(&parsed).map_err(|e| e.to_string())?;
        let location = ObjectPath::from_url_path(parsed.path()).map_err(|e| e.to_string())?;
        let meta = store.head(&location).await.map_err(|e| e.to_string())?;
        DFParquetMetadata::new(store.as_ref(), &meta)
            .with_metadata_size_hint(Some(FOOTER_HINT))
            .fetch_metadata()
            .await
            .map(Arc::unwrap_or_clone)
            .map_err(|e| e.to_string())
    }

    /// Objects whose footers are read at once.
    const FOOTERS_AT_ONCE: usize = 16;

    /// Bytes fetched from an object's end in the first request for its
    /// footer: DataFusion's own prefetch.
    const FOOTER_HINT: usize = 512 << 10;

    /// Runs `f` to completion on a runtime of its own, on a thread of its
    /// own, so that a caller inside another runtime does not nest two.
    fn block_on<T: Send>(
        f: impl std::future::Future<Output = Result<T, String>> + Send,
    ) -> Result<T, String> {
        std::thread::scope(|s| {
            s.spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start a runtime: {e}"))?
                    .block_on(f)
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }
}
