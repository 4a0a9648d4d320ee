//! The file store: one file per session in a directory.
//!
//! # Layout
//!
//! ```text
//! <dir>/<store key>.session              one record: b"SKS", format version 1, Record::to_bytes()
//! <dir>/<store key>.<pid>.<n>.tmp        a record being written (renamed over the .session file)
//! <dir>/locks/00.lock .. <dir>/locks/3f.lock   64 lock stripes, never deleted
//! ```
//!
//! File names come only from [`StoreKey`]s (hex digests), never from client input.
//!
//! # Who may write there
//!
//! Whoever can write to the directory can plant a valid record under the hash of an id of
//! their choosing, and so open a session as anyone. On Unix the store therefore creates its
//! directories `0700` and its files `0600`, and [`FileStore::open`] refuses
//! ([`StoreError::UnsafeDirectory`]) a directory, or its `locks` directory, that is writable
//! by its group or by others or owned by another user than the process's effective user.
//! [`FileStoreBuilder::allow_shared_directory`] opens such a directory anyway, for setups that
//! share it on purpose. The parent directories are not checked: keep them out of other users'
//! hands too.
//!
//! # Consistency
//!
//! A record is replaced atomically: written whole to a temporary file in the same directory,
//! then renamed over the old one, so a reader sees the old record or the new one, never a
//! torn one, and needs no lock. Every read-modify-write (create, apply, rename, delete, and
//! collection) holds the lock stripe of its key: an in-process async mutex (so waiting costs
//! no thread) and then an exclusive advisory file lock on `locks/NN.lock` (so other processes
//! sharing the directory wait too). Lock files are never deleted: deleting a lock file races
//! with a process about to lock it, which would then hold a lock nobody else sees.
//!
//! # Durability
//!
//! By default records are not fsynced. The rename makes every write safe against a crash of
//! the process (the page cache survives it); only a power loss or kernel crash can lose the
//! last writes or leave a truncated file, which then reads as a fresh session (with a warning)
//! rather than an error. That is the right trade for sessions, where an fsync per request
//! would cost milliseconds. [`FileStore::sync_writes`] turns fsync of the file and of the
//! directory on for deployments that want writes on disk before the response.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Mutex;

use super::{Applied, Created, Renamed, Store};
use crate::error::StoreError;
use crate::id::StoreKey;
use crate::record::{Change, Record};
use crate::time::Timestamp;

/// How many lock stripes there are. Part of the directory format: every process sharing a
/// directory must agree on it.
const STRIPES: usize = 64;
const MAGIC: &[u8; 3] = b"SKS";
const VERSION: u8 = 1;
const SESSION_SUFFIX: &str = ".session";
const TEMP_SUFFIX: &str = ".tmp";
const STORE: &str = "file";

/// Sessions as files in a directory: they survive restarts and may be shared by several
/// processes of one user on one machine.
///
/// Cheap to clone: clones share the directory handle and locks.
///
/// [`collect_expired`](Store::collect_expired) and [`count_live`](Store::count_live) read every
/// session file: fine for thousands of sessions; for millions, pick SQLite.
///
/// ```no_run
/// # async fn demo() -> Result<(), session_core::StoreError> {
/// let store = session_core::store::FileStore::open("/var/lib/myapp/sessions").await?;
/// # Ok(()) }
/// ```
///
/// See the [module docs](self) for the layout, who may write to the directory, locking and
/// durability.
#[derive(Debug, Clone)]
pub struct FileStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    /// One lock file per stripe, behind the in-process mutex of that stripe. Only the holder
    /// of the mutex touches the file lock, so one open handle per stripe suffices.
    stripes: Vec<Arc<Mutex<File>>>,
    sync: bool,
}

/// What reading a record file found.
enum Read {
    Missing,
    Found(Record),
    /// Our header but an undecodable body (or a truncated file): worthless, may be replaced.
    Corrupt,
    /// A format version this build does not know (written by a newer one): left alone.
    Foreign,
}

/// How to open a [`FileStore`]: made by [`FileStore::builder`], finished by
/// [`open`](Self::open).
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `open` is called"]
pub struct FileStoreBuilder {
    dir: PathBuf,
    sync: bool,
    shared: bool,
}

impl FileStoreBuilder {
    /// Whether to fsync every written record and the directory before a write returns
    /// (default: off; see [Durability](self#durability)).
    pub fn sync_writes(mut self, sync: bool) -> Self {
        self.sync = sync;
        self
    }

    /// Opens the directory even if it is writable by its group or by others, or owned by
    /// another user (default: refused with [`StoreError::UnsafeDirectory`]; Unix only).
    ///
    /// Only for a directory shared on purpose, e.g. one that an administrator owns and lets
    /// the application's user write to. The risk is yours: **anyone who can write to the
    /// directory can forge a session for any id** (a record file under the hash of the id),
    /// and replace or remove any session. Records are still written `0600`, readable only by
    /// the user that wrote them, so every process sharing the directory must run as one user;
    /// a directory this creates is still `0700`.
    pub fn allow_shared_directory(mut self) -> Self {
        self.shared = true;
        self
    }

    /// Opens (creating if needed, `0700` on Unix) the store's directory.
    ///
    /// Fails with [`StoreError::Io`] if the directory or its lock files cannot be created, or
    /// if a file cannot be written there, and with [`StoreError::UnsafeDirectory`] if other
    /// users could write to it (see [`allow_shared_directory`](Self::allow_shared_directory)):
    /// better at start-up than on the first login.
    pub async fn open(self) -> Result<FileStore, StoreError> {
        let inner = blocking(move || Inner::open(self)).await?;
        Ok(FileStore { inner: Arc::new(inner) })
    }
}

impl FileStore {
    /// Opens (creating if needed, `0700` on Unix) the store in `dir`, with the default
    /// settings: shorthand for `FileStore::builder(dir).open()`.
    ///
    /// Fails with [`StoreError::Io`] if the directory or its lock files cannot be created, or
    /// if a file cannot be written there, and with [`StoreError::UnsafeDirectory`] if the
    /// directory is writable by its group or by others or owned by another user (Unix): better
    /// at start-up than on the first login.
    pub async fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        Self::builder(dir).open().await
    }

    /// Settings for a store in `dir`, at their defaults until changed.
    pub fn builder(dir: impl Into<PathBuf>) -> FileStoreBuilder {
        FileStoreBuilder { dir: dir.into(), sync: false, shared: false }
    }

    /// Whether to fsync every written record and the directory before a write returns
    /// (default: off; see [Durability](self#durability)).
    #[must_use]
    pub fn sync_writes(self, sync: bool) -> Self {
        let inner = Inner { dir: self.inner.dir.clone(), stripes: self.inner.stripes.clone(), sync };
        Self { inner: Arc::new(inner) }
    }

    /// The directory the sessions are in.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Runs `f` on a blocking thread while holding the lock stripes of `keys`.
    async fn locked<T, F>(&self, keys: &[&StoreKey], f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T, StoreError> + Send + 'static,
    {
        let mut stripes: Vec<usize> = keys.iter().map(|k| stripe_of(k)).collect();
        // A global order, so two renames crossing the same two stripes cannot deadlock.
        stripes.sort_unstable();
        stripes.dedup();
        let mut guards = Vec::with_capacity(stripes.len());
        for i in stripes {
            guards.push(self.inner.stripes[i].clone().lock_owned().await);
        }
        let inner = self.inner.clone();
        // The guards move into the blocking job: if this future is dropped, the job still runs
        // to its end with the locks held.
        blocking(move || {
            let _file_locks = guards.iter().map(|g| FileLock::acquire(g)).collect::<Result<Vec<_>, _>>()?;
            f(&inner)
        })
        .await
    }
}

impl Inner {
    fn open(settings: FileStoreBuilder) -> Result<Self, StoreError> {
        let FileStoreBuilder { dir, sync, shared } = settings;
        create_private_dir(&dir)?;
        // Absolute, so a later change of the working directory cannot move the store.
        let dir = fs::canonicalize(&dir)
            .map_err(|e| StoreError::io(format!("file store: cannot resolve directory {}", dir.display()), e))?;
        let owner = probe(&dir)?;
        if !shared {
            check_private(&dir, owner)?;
        }
        let locks = dir.join("locks");
        create_private_dir(&locks)?;
        if !shared {
            check_private(&locks, owner)?;
        }
        let mut stripes = Vec::with_capacity(STRIPES);
        for i in 0..STRIPES {
            let path = locks.join(format!("{i:02x}.lock"));
            let mut options = OpenOptions::new();
            options.read(true).write(true).create(true).truncate(false);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let file = options
                .open(&path)
                .map_err(|e| StoreError::io(format!("file store: cannot open lock file {}", path.display()), e))?;
            stripes.push(Arc::new(Mutex::new(file)));
        }
        Ok(Self { dir, stripes, sync })
    }

    fn path(&self, key: &StoreKey) -> PathBuf {
        self.dir.join(format!("{key}{SESSION_SUFFIX}"))
    }

    fn read(&self, key: &StoreKey) -> Result<Read, StoreError> {
        read_file(&self.path(key))
    }

    /// Replaces the record of `key` atomically: temp file in the same directory, then rename.
    fn write(&self, key: &StoreKey, record: &Record) -> Result<(), StoreError> {
        let path = self.path(key);
        let temp = self.dir.join(format!("{key}.{}.{}{TEMP_SUFFIX}", std::process::id(), unique()));
        let mut bytes = Vec::with_capacity(64);
        bytes.extend_from_slice(MAGIC);
        bytes.push(VERSION);
        bytes.extend_from_slice(&record.to_bytes());
        let written = write_new(&temp, &bytes, self.sync).and_then(|()| fs::rename(&temp, &path));
        if let Err(e) = written {
            // Best effort; collection removes what is left if this fails too.
            let _ = fs::remove_file(&temp);
            return Err(StoreError::io(format!("file store: writing {}", path.display()), e));
        }
        self.sync_dir()
    }

    fn remove(&self, path: &Path) -> Result<bool, StoreError> {
        match fs::remove_file(path) {
            Ok(()) => self.sync_dir().map(|()| true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StoreError::io(format!("file store: removing {}", path.display()), e)),
        }
    }

    /// Makes renames and removals durable, when asked to.
    fn sync_dir(&self) -> Result<(), StoreError> {
        #[cfg(unix)]
        if self.sync {
            File::open(&self.dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| StoreError::io(format!("file store: syncing directory {}", self.dir.display()), e))?;
        }
        Ok(())
    }

    /// One pass of collection, on a blocking thread.
    fn collect(&self, now: Timestamp) -> Result<u64, StoreError> {
        let listing = fs::read_dir(&self.dir)
            .map_err(|e| StoreError::io(format!("file store: listing {}", self.dir.display()), e))?;
        let mut removed = 0;
        for item in listing {
            let item = item.map_err(|e| StoreError::io(format!("file store: listing {}", self.dir.display()), e))?;
            let name = item.file_name();
            let Some(name) = name.to_str() else { continue };
            let outcome = if let Some(key) = name.strip_suffix(SESSION_SUFFIX).and_then(StoreKey::parse) {
                self.collect_record(&key, now).map(u64::from)
            } else if let Some(key) = temp_file_key(name) {
                self.collect_temp(&key, &item.path()).map(|_| 0)
            } else {
                // Not ours (or the locks directory): never touch it.
                continue;
            };
            match outcome {
                Ok(n) => removed += n,
                // One unreadable file must not stop collection of the others.
                Err(e) => tracing::warn!(error = %e, file = name, "file store: could not collect a file"),
            }
        }
        Ok(removed)
    }

    /// The records live at `now`, on a blocking thread: every `.session` file is read (no
    /// lock: a record is replaced atomically). Temporary and lock files, corrupt files and
    /// files of a newer format are not sessions this store can open, so they do not count.
    fn count(&self, now: Timestamp) -> Result<u64, StoreError> {
        let failed = |e| StoreError::io(format!("file store: listing {}", self.dir.display()), e);
        let mut live = 0;
        for item in fs::read_dir(&self.dir).map_err(failed)? {
            let name = item.map_err(failed)?.file_name();
            let Some(key) = name.to_str().and_then(|n| n.strip_suffix(SESSION_SUFFIX)).and_then(StoreKey::parse) else {
                continue;
            };
            // An unreadable file fails the count: a number that skipped it would be wrong.
            if matches!(self.read(&key)?, Read::Found(record) if !record.meta.is_expired(now)) {
                live += 1;
            }
        }
        Ok(live)
    }

    fn collect_record(&self, key: &StoreKey, now: Timestamp) -> Result<bool, StoreError> {
        let dead = |read: &Read| match read {
            Read::Found(record) => record.meta.is_expired(now),
            Read::Corrupt => true,
            Read::Missing | Read::Foreign => false,
        };
        // A look without the lock first: most files are live, and reads need no lock.
        if !dead(&self.read(key)?) {
            return Ok(false);
        }
        let stripe = self.stripes[stripe_of(key)].blocking_lock();
        let _lock = FileLock::acquire(&stripe)?;
        // Looked at again under the lock: a request may have replaced it meanwhile.
        match self.read(key)? {
            read if dead(&read) => {
                if matches!(read, Read::Corrupt) {
                    tracing::warn!(key = ?key, "file store: removed a corrupt session file");
                }
                self.remove(&self.path(key))
            }
            _ => Ok(false),
        }
    }

    fn collect_temp(&self, key: &StoreKey, path: &Path) -> Result<bool, StoreError> {
        // Writers hold their key's stripe from creating a temp file until it is renamed or
        // removed, so under that lock any temp file of the key is a leftover of a crash.
        let stripe = self.stripes[stripe_of(key)].blocking_lock();
        let _lock = FileLock::acquire(&stripe)?;
        self.remove(path)
    }
}

/// Creates `dir` (`0700` on Unix) and any missing parents (with the default mode: they may be
/// shared directories like `/var/lib/myapp`), unless it exists.
fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    let failed = |e| StoreError::io(format!("file store: cannot create directory {}", dir.display()), e);
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(failed)?;
    }
    let mut builder = DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    match builder.create(dir) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(failed(e)),
        _ => Ok(()),
    }
}

/// Checks a file can be written in `dir`, and returns the user id files created there get:
/// this process's effective user id (read from the file itself, as `std` cannot ask for it
/// without `unsafe`). `None` off Unix.
fn probe(dir: &Path) -> Result<Option<u32>, StoreError> {
    let path = dir.join(format!(".probe.{}.{}{TEMP_SUFFIX}", std::process::id(), unique()));
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let probed = options.open(&path).and_then(|mut file| {
        file.write_all(b"probe")?;
        owner_of(&file)
    });
    // Remove the probe even if writing to it failed after it was created.
    let removed = fs::remove_file(&path);
    let owner = probed.and_then(|owner| removed.map(|()| owner));
    owner.map_err(|e| StoreError::io(format!("file store: directory {} is not writable", dir.display()), e))
}

/// The owner of an open file: its handle's metadata, so nobody can swap the file under it.
#[cfg(unix)]
fn owner_of(file: &File) -> io::Result<Option<u32>> {
    Ok(Some(std::os::unix::fs::MetadataExt::uid(&file.metadata()?)))
}

#[cfg(not(unix))]
fn owner_of(_: &File) -> io::Result<Option<u32>> {
    Ok(None)
}

/// Refuses a directory other users could write to: they could plant records.
#[cfg(unix)]
fn check_private(dir: &Path, owner: Option<u32>) -> Result<(), StoreError> {
    use std::os::unix::fs::MetadataExt as _;

    let unsafe_dir = |reason: String| StoreError::UnsafeDirectory { store: STORE, path: dir.to_owned(), reason };
    // Not following a symbolic link: `dir` is canonical, and `locks` is ours to create.
    let meta = fs::symlink_metadata(dir)
        .map_err(|e| StoreError::io(format!("file store: cannot inspect directory {}", dir.display()), e))?;
    if !meta.is_dir() {
        return Err(unsafe_dir("it is not a directory".into()));
    }
    let mode = meta.mode() & 0o7777;
    let mut problems = Vec::new();
    if let Some(me) = owner.filter(|&me| me != meta.uid()) {
        problems.push(format!("it is owned by user id {}, not by this process's user (id {me})", meta.uid()));
    }
    match (mode & 0o020 != 0, mode & 0o002 != 0) {
        (true, true) => problems.push(format!("it is writable by its group and by others (mode {mode:04o})")),
        (true, false) => problems.push(format!("it is writable by its group (mode {mode:04o})")),
        (false, true) => problems.push(format!("it is writable by others (mode {mode:04o})")),
        (false, false) => {}
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(unsafe_dir(problems.join(", and ")))
    }
}

#[cfg(not(unix))]
fn check_private(_: &Path, _: Option<u32>) -> Result<(), StoreError> {
    Ok(())
}

/// `<key>.<pid>.<n>.tmp` → the key.
fn temp_file_key(name: &str) -> Option<StoreKey> {
    let rest = name.strip_suffix(TEMP_SUFFIX)?;
    let (key, _) = rest.split_once('.')?;
    StoreKey::parse(key)
}

fn stripe_of(key: &StoreKey) -> usize {
    // Keys are uniform hex digests, so the first two digits spread keys evenly.
    let first = key.as_str().get(..2).and_then(|h| u8::from_str_radix(h, 16).ok()).unwrap_or(0);
    usize::from(first) % STRIPES
}

fn unique() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn write_new(path: &Path, bytes: &[u8], sync: bool) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        // Session data is nobody else's business.
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    if sync {
        file.sync_data()?;
    }
    Ok(())
}

fn read_file(path: &Path) -> Result<Read, StoreError> {
    match fs::read(path) {
        Ok(bytes) => Ok(decode(&bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Read::Missing),
        Err(e) => Err(StoreError::io(format!("file store: reading {}", path.display()), e)),
    }
}

fn decode(bytes: &[u8]) -> Read {
    let Some((header, body)) = bytes.split_first_chunk::<4>() else {
        // Shorter than the header: typically a file cut short by a power loss.
        return Read::Corrupt;
    };
    if header[..3] != MAGIC[..] {
        return Read::Corrupt;
    }
    if header[3] != VERSION {
        return Read::Foreign;
    }
    Record::from_bytes(body).map_or(Read::Corrupt, Read::Found)
}

/// An exclusive advisory lock on a stripe's lock file, released on drop.
struct FileLock<'a>(&'a File);

impl<'a> FileLock<'a> {
    fn acquire(file: &'a File) -> Result<Self, StoreError> {
        // Named through the trait: newer std has inherent `File` lock methods of its own.
        fs4::fs_std::FileExt::lock_exclusive(file)
            .map_err(|e| StoreError::io("file store: locking a lock stripe", e))?;
        Ok(Self(file))
    }
}

impl Drop for FileLock<'_> {
    fn drop(&mut self) {
        if let Err(e) = fs4::fs_std::FileExt::unlock(self.0) {
            tracing::warn!(error = %e, "file store: could not unlock a lock stripe");
        }
    }
}

async fn blocking<T, F>(f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    tokio::task::spawn_blocking(f).await.map_err(|e| StoreError::backend(STORE, e))?
}

#[async_trait]
impl Store for FileStore {
    async fn load(&self, key: &StoreKey, now: Timestamp) -> Result<Option<Record>, StoreError> {
        let path = self.inner.path(key);
        match blocking(move || read_file(&path)).await? {
            Read::Found(mut record) if !record.meta.is_expired(now) => {
                record.drop_expired_entries(now);
                Ok(Some(record))
            }
            Read::Found(_) | Read::Missing => Ok(None),
            Read::Corrupt => {
                tracing::warn!(key = ?key, "file store: corrupt session file; starting a fresh session");
                Ok(None)
            }
            Read::Foreign => {
                tracing::warn!(
                    key = ?key,
                    "file store: session file of a newer format version; starting a fresh session"
                );
                Ok(None)
            }
        }
    }

    async fn create(&self, key: &StoreKey, record: &Record, now: Timestamp) -> Result<Created, StoreError> {
        let (key, record) = (*key, record.clone());
        self.locked(&[&key], move |inner| match inner.read(&key)? {
            Read::Found(old) if !old.meta.is_expired(now) => Ok(Created::KeyTaken),
            _ => inner.write(&key, &record).map(|()| Created::Stored),
        })
        .await
    }

    async fn apply(&self, key: &StoreKey, change: &Change, now: Timestamp) -> Result<Applied, StoreError> {
        let (key, change) = (*key, change.clone());
        self.locked(&[&key], move |inner| match inner.read(&key)? {
            Read::Found(mut record) if !record.meta.is_expired(now) => {
                record.apply(&change);
                record.drop_expired_entries(now);
                inner.write(&key, &record).map(|()| Applied::Done)
            }
            _ => Ok(Applied::Gone),
        })
        .await
    }

    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        let key = *key;
        // Under the lock, so an apply that already read the record cannot write it back.
        self.locked(&[&key], move |inner| inner.remove(&inner.path(&key)).map(drop)).await
    }

    async fn rename(&self, from: &StoreKey, to: &StoreKey, now: Timestamp) -> Result<Renamed, StoreError> {
        let (from, to) = (*from, *to);
        self.locked(&[&from, &to], move |inner| match inner.read(&from)? {
            Read::Found(_) if matches!(inner.read(&to)?, Read::Found(taken) if !taken.meta.is_expired(now)) => {
                Ok(Renamed::KeyTaken)
            }
            Read::Found(record) if !record.meta.is_expired(now) => {
                let (old, new) = (inner.path(&from), inner.path(&to));
                // One atomic rename: the old name is gone the moment the new one exists, and a
                // failure leaves the old file as it was.
                fs::rename(&old, &new).map_err(|e| {
                    StoreError::io(format!("file store: renaming {} to {}", old.display(), new.display()), e)
                })?;
                inner.sync_dir()?;
                Ok(Renamed::Done)
            }
            _ => Ok(Renamed::Gone),
        })
        .await
    }

    async fn collect_expired(&self, now: Timestamp) -> Result<u64, StoreError> {
        let inner = self.inner.clone();
        blocking(move || inner.collect(now)).await
    }

    /// Reads every session file of the directory: a cost like a collection pass.
    async fn count_live(&self, now: Timestamp) -> Result<u64, StoreError> {
        let inner = self.inner.clone();
        blocking(move || inner.count(now)).await
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::{count_warnings, key, NOW};

    use super::*;
    use crate::record::{Entry, Meta};

    fn record() -> Record {
        let meta = Meta {
            created_at: NOW,
            idle_deadline: Some(NOW.after(std::time::Duration::from_secs(60))),
            absolute_deadline: None,
            remember_me: false,
            last_active: NOW,
            lifetime: None,
        };
        Record { meta, entries: vec![("a".into(), Entry { value: vec![1], expires_at: None })] }
    }

    #[tokio::test]
    async fn corrupt_file_reads_as_none_with_a_warning_and_is_overwritten_by_create() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileStore::open(dir.path()).await.expect("open");
        let k = key(1);
        for garbage in [&b"SKS\x01\xff\xff\xff"[..], b"", b"SK", b"SKS\x01", b"not a session file"] {
            fs::write(store.inner.path(&k), garbage).expect("write garbage");
            let (warnings, _guard) = count_warnings();
            assert_eq!(store.load(&k, NOW).await.expect("load"), None, "{garbage:?}");
            assert_eq!(warnings.load(Ordering::SeqCst), 1, "one warning for {garbage:?}");
            assert_eq!(store.apply(&k, &Change::default(), NOW).await.expect("apply"), Applied::Gone);
        }
        assert_eq!(store.create(&k, &record(), NOW).await.expect("create"), Created::Stored);
        assert_eq!(store.load(&k, NOW).await.expect("load"), Some(record()));
    }

    #[tokio::test]
    async fn files_of_a_newer_format_are_not_read_nor_collected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileStore::open(dir.path()).await.expect("open");
        let k = key(2);
        let path = store.inner.path(&k);
        fs::write(&path, b"SKS\x02future").expect("write");
        assert_eq!(store.load(&k, NOW).await.expect("load"), None);
        assert_eq!(store.collect_expired(NOW).await.expect("collect"), 0);
        assert!(path.exists(), "a file of a newer format was removed");
    }

    #[tokio::test]
    async fn collection_removes_corrupt_files_and_crash_leftovers_but_nothing_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileStore::open(dir.path()).await.expect("open");
        let live = key(3);
        store.create(&live, &record(), NOW).await.expect("create");
        let corrupt = store.inner.path(&key(4));
        fs::write(&corrupt, b"SKS\x01garbage").expect("write");
        let leftover = dir.path().join(format!("{}.123.4.tmp", key(5)));
        fs::write(&leftover, b"half a rec").expect("write");
        let foreign = dir.path().join("README.txt");
        fs::write(&foreign, b"not a session").expect("write");
        let bad_name = dir.path().join("zz.session");
        fs::write(&bad_name, b"SKS\x01garbage").expect("write");

        assert_eq!(store.collect_expired(NOW).await.expect("collect"), 1, "the corrupt record");
        assert!(!corrupt.exists() && !leftover.exists(), "corrupt file or temp leftover kept");
        assert!(foreign.exists() && bad_name.exists(), "a file that is not the store's was removed");
        assert!(dir.path().join("locks/3f.lock").exists(), "lock files are kept");
        assert_eq!(store.load(&live, NOW).await.expect("load"), Some(record()));
    }

    #[tokio::test]
    async fn counting_skips_files_that_are_no_live_session() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileStore::open(dir.path()).await.expect("open");
        store.create(&key(1), &record(), NOW).await.expect("create");
        let expired = Record { meta: Meta { idle_deadline: Some(NOW), ..record().meta }, ..record() };
        store.create(&key(2), &expired, NOW).await.expect("create");
        // A leftover temp file holding a whole live record, as a crash mid-write leaves it.
        let mut live_bytes = b"SKS\x01".to_vec();
        live_bytes.extend_from_slice(&record().to_bytes());
        fs::write(dir.path().join(format!("{}.123.4.tmp", key(3))), &live_bytes).expect("write");
        fs::write(store.inner.path(&key(4)), b"SKS\x01garbage").expect("write");
        fs::write(store.inner.path(&key(5)), b"SKS\x02future").expect("write");
        fs::write(dir.path().join("zz.session"), &live_bytes).expect("write");
        fs::write(dir.path().join("README.txt"), b"not a session").expect("write");
        assert_eq!(store.count_live(NOW).await.expect("count"), 1, "only the live record");
    }

    #[tokio::test]
    async fn an_unwritable_directory_fails_at_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("a-file");
        fs::write(&file, b"x").expect("write");
        // A path under a regular file cannot be a directory, even for root.
        let err = FileStore::open(file.join("sessions")).await.expect_err("open under a regular file");
        assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
        assert!(err.to_string().contains("cannot create directory"), "{err}");
    }

    #[tokio::test]
    async fn records_are_private_files_with_a_versioned_header() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileStore::open(dir.path()).await.expect("open").sync_writes(true);
        let k = key(6);
        store.create(&k, &record(), NOW).await.expect("create");
        let bytes = fs::read(store.inner.path(&k)).expect("read");
        assert_eq!(&bytes[..4], b"SKS\x01");
        assert_eq!(Record::from_bytes(&bytes[4..]), Some(record()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(store.inner.path(&k)).expect("metadata").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let names: Vec<_> = fs::read_dir(dir.path()).expect("list").map(|e| e.expect("entry").file_name()).collect();
        assert!(!names.iter().any(|n| n.to_string_lossy().ends_with(".tmp")), "temp files left: {names:?}");
    }

    #[test]
    fn stripes_follow_the_key_prefix() {
        assert_eq!(stripe_of(&key(0x00)), 0);
        assert_eq!(stripe_of(&key(0x3f)), 0x3f);
        assert_eq!(stripe_of(&key(0x40)), 0);
        assert_eq!(stripe_of(&key(0xff)), 0x3f);
        assert_eq!(temp_file_key(&format!("{}.1.2.tmp", key(9))), Some(key(9)));
        assert_eq!(temp_file_key("../x.1.tmp"), None);
    }
}
