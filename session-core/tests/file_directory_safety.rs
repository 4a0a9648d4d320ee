//! The file store's directory must be private to its user: whoever can write there can plant a
//! valid record for an id of their choosing. It is created `0700`; a directory other users
//! can write to, or that another user owns, is refused at `open` unless the opt-out is used.

#![cfg(all(feature = "file", unix))]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test fixtures: a failed unwrap is a failed test

use std::fs;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;
use std::time::Duration;

use session_core::store::FileStore;
use session_core::{Created, Entry, Meta, Record, Store, StoreError, StoreKey, Timestamp};

const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("metadata").permissions().mode() & 0o7777
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// This process's effective user id: the owner of a file it creates.
fn my_uid(dir: &Path) -> u32 {
    let probe = dir.join("whoami");
    fs::write(&probe, b"").expect("write a probe");
    let uid = fs::metadata(&probe).expect("metadata").uid();
    fs::remove_file(&probe).expect("remove the probe");
    uid
}

fn nobody_uid() -> u32 {
    let passwd = fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
    let line = passwd.lines().find(|l| l.starts_with("nobody:")).expect("the user `nobody` in /etc/passwd");
    line.split(':').nth(2).and_then(|uid| uid.parse().ok()).expect("nobody's uid")
}

/// The store works: a record goes in and comes back.
async fn round_trip(store: &FileStore) {
    let key = StoreKey::parse(&format!("{:032x}", rand::random::<u128>())).unwrap();
    let mut record = Record::new(Meta { idle_deadline: Some(NOW.after(Duration::from_secs(60))), ..Meta::new(NOW) });
    record.entries.push(("a".into(), Entry { value: vec![1], expires_at: None }));
    assert_eq!(store.create(&key, &record, NOW).await.unwrap(), Created::Stored);
    assert_eq!(store.load(&key, NOW).await.unwrap(), Some(record));
}

/// `open` refuses `dir` as unsafe, naming it, for a reason containing `why`.
async fn assert_refused(dir: &Path, refused: &Path, why: &str) {
    match FileStore::open(dir).await {
        Err(StoreError::UnsafeDirectory { store: "file", path, reason }) => {
            assert_eq!(path, refused.canonicalize().unwrap(), "the directory named in the error");
            assert!(reason.contains(why), "the reason {reason:?} should say {why:?}");
        }
        Err(other) => panic!("open of {}: expected StoreError::UnsafeDirectory, got {other:?}", dir.display()),
        Ok(_) => panic!("open of {}: expected StoreError::UnsafeDirectory, but it opened", dir.display()),
    }
}

#[tokio::test]
async fn a_new_directory_is_created_private() {
    let tmp = tempfile::tempdir().unwrap();
    // Whatever the umask lets through, the store's own directories are for its user alone.
    let dir = tmp.path().join("app").join("sessions");
    let store = FileStore::open(&dir).await.expect("open");
    assert_eq!(mode(&dir), 0o700, "the store's directory");
    assert_eq!(mode(&dir.join("locks")), 0o700, "the lock directory");
    assert_eq!(mode(&dir.join("locks").join("00.lock")), 0o600, "a lock file");
    round_trip(&store).await;
    let record =
        fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).find(|p| p.extension() == Some("session".as_ref()));
    assert_eq!(mode(&record.expect("a record file")), 0o600, "a record file");
}

#[tokio::test]
async fn an_existing_directory_of_ours_opens() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sessions");
    fs::create_dir(&dir).unwrap();
    chmod(&dir, 0o700);
    let store = FileStore::open(&dir).await.expect("open a 0700 directory of ours");
    round_trip(&store).await;
    drop(store);
    assert_eq!(mode(&dir), 0o700, "open changed the mode of an existing directory");
    // Readable by others is no way to plant records: such directories (older versions made
    // them 0755) keep working.
    chmod(&dir, 0o755);
    let store = FileStore::open(&dir).await.expect("open a 0755 directory of ours");
    round_trip(&store).await;
    assert_eq!(mode(&dir), 0o755, "open changed the mode of an existing directory");
}

#[tokio::test]
async fn a_directory_others_can_write_to_is_refused_unless_shared_on_purpose() {
    let cases = [
        (0o777, "writable by its group and by others (mode 0777)"),
        (0o1777, "writable by its group and by others (mode 1777)"),
        (0o775, "writable by its group (mode 0775)"),
        (0o730, "writable by its group (mode 0730)"),
        (0o702, "writable by others (mode 0702)"),
    ];
    for (m, why) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("sessions");
        fs::create_dir(&dir).unwrap();
        chmod(&dir, m);
        assert_refused(&dir, &dir, why).await;
        assert!(!dir.join("locks").exists(), "mode {m:o}: a refused open left files behind");
        let names: Vec<_> = fs::read_dir(&dir).unwrap().collect();
        assert!(names.is_empty(), "mode {m:o}: a refused open left files behind: {names:?}");

        let store = FileStore::builder(&dir).allow_shared_directory().open().await;
        let store = store.unwrap_or_else(|e| panic!("mode {m:o}: the opt-out did not open it: {e}"));
        round_trip(&store).await;
        assert_eq!(mode(&dir), m, "the opt-out changed the directory's mode");
    }
}

#[tokio::test]
async fn a_directory_reached_through_a_symbolic_link_is_checked_where_it_is() {
    let tmp = tempfile::tempdir().unwrap();
    let real = tmp.path().join("real");
    fs::create_dir(&real).unwrap();
    chmod(&real, 0o777);
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    assert_refused(&link, &real, "mode 0777").await;
}

#[tokio::test]
async fn a_lock_directory_others_can_write_to_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sessions");
    drop(FileStore::open(&dir).await.expect("open"));
    chmod(&dir.join("locks"), 0o777);
    assert_refused(&dir, &dir.join("locks"), "mode 0777").await;
    FileStore::builder(&dir).allow_shared_directory().open().await.expect("the opt-out opens it");
}

#[tokio::test]
async fn a_directory_of_another_user_is_refused_unless_shared_on_purpose() {
    let tmp = tempfile::tempdir().unwrap();
    let me = my_uid(tmp.path());
    if me != 0 {
        // Without root nothing can be chowned; the system's temporary directory belongs to
        // root, which must then be named as the owner (besides its mode).
        let system_tmp = Path::new("/tmp");
        assert_eq!(fs::metadata(system_tmp).unwrap().uid(), 0, "/tmp is root's");
        assert_refused(system_tmp, system_tmp, &format!("owned by user id 0, not by this process's user (id {me})"))
            .await;
        return;
    }
    let nobody = nobody_uid();
    let dir = tmp.path().join("sessions");
    fs::create_dir(&dir).unwrap();
    chmod(&dir, 0o700);
    std::os::unix::fs::chown(&dir, Some(nobody), None).expect("chown to nobody");
    assert_refused(&dir, &dir, &format!("owned by user id {nobody}, not by this process's user (id 0)")).await;
    assert!(!dir.join("locks").exists(), "a refused open left files behind");

    let store = FileStore::builder(&dir).allow_shared_directory().open().await.expect("the opt-out opens it");
    round_trip(&store).await;
    assert_eq!(fs::metadata(&dir).unwrap().uid(), nobody, "the opt-out changed the directory's owner");
}
