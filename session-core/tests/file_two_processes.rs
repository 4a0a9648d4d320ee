//! Two OS processes hammering one file store directory, each changing its own fields of the
//! same session, lose nothing.
//!
//! The parent test starts this test binary twice more, running only [`child`] (selected with
//! `--exact`, and `--ignored` since it is ignored in normal runs), with the role in the
//! environment.

#![cfg(feature = "file")]

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};

use session_core::{Applied, Change, Created, Entry, FileStore, Meta, Record, Store, StoreKey, Timestamp};

const ROLE: &str = "SESSION_KIT_FILE_CHILD_ROLE";
const DIR: &str = "SESSION_KIT_FILE_CHILD_DIR";
const READY: &str = "session-kit child ready";
const APPLIES: u32 = 300;
const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);

fn key() -> StoreKey {
    StoreKey::parse("5e55105e55105e55105e55105e55105e").expect("a valid key")
}

fn field(role: &str, i: u32) -> String {
    format!("{role}-{i}")
}

fn start_lock(dir: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join("start.lock"))
        .expect("open the start lock")
}

#[test]
fn two_processes_changing_different_fields_lose_nothing() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let store = runtime.block_on(FileStore::open(dir.path())).expect("open the file store");
    let meta = Meta::new(NOW);
    let created = runtime.block_on(store.create(&key(), &Record::new(meta), NOW)).expect("create");
    assert_eq!(created, Created::Stored);

    // The children start together: each says it is ready, then waits for this lock.
    let gate = start_lock(dir.path());
    fs4::fs_std::FileExt::lock_exclusive(&gate).expect("hold the start lock");

    let exe = std::env::current_exe().expect("the test binary");
    let mut children: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|role| {
            Command::new(&exe)
                .args(["child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
                .env(ROLE, role)
                .env(DIR, dir.path())
                .stdout(Stdio::piped())
                .spawn()
                .expect("start a child")
        })
        .collect();
    let mut outputs = Vec::new();
    for child in &mut children {
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut seen = String::new();
        loop {
            let mut line = String::new();
            let read = stdout.read_line(&mut line).expect("read a child's output");
            assert!(read > 0, "a child ended before it was ready; its output:\n{seen}");
            seen.push_str(&line);
            // libtest may print "test child ... " on the same line first.
            if line.trim_end().ends_with(READY) {
                break;
            }
        }
        outputs.push((stdout, seen));
    }
    fs4::fs_std::FileExt::unlock(&gate).expect("open the gate");

    for (child, (mut stdout, mut seen)) in children.iter_mut().zip(outputs) {
        std::io::Read::read_to_string(&mut stdout, &mut seen).expect("read a child's output");
        let status = child.wait().expect("wait for a child");
        assert!(status.success(), "a child failed ({status}); its output:\n{seen}");
        assert!(seen.contains("1 passed"), "the child ran no test; its output:\n{seen}");
    }

    let record = runtime.block_on(store.load(&key(), NOW)).expect("load").expect("the session");
    for role in ["a", "b"] {
        for i in 0..APPLIES {
            let name = field(role, i);
            assert_eq!(record.get(&name).map(|e| e.value.clone()), Some(i.to_le_bytes().to_vec()), "{name} was lost");
        }
    }
    assert_eq!(record.entries.len(), 2 * APPLIES as usize);
}

/// One of the two writers; does nothing unless started by the test above.
#[test]
#[ignore = "run by two_processes_changing_different_fields_lose_nothing in processes of its own"]
fn child() {
    let role = std::env::var(ROLE).expect("started without a role: run the parent test instead");
    let dir = std::path::PathBuf::from(std::env::var_os(DIR).expect("started without a directory"));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let store = runtime.block_on(FileStore::open(&dir)).expect("open the file store");
    let gate = start_lock(&dir);
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{READY}").and_then(|()| stdout.flush()).expect("tell the parent");
    fs4::fs_std::FileExt::lock_shared(&gate).expect("wait at the start lock");
    runtime.block_on(async {
        for i in 0..APPLIES {
            let entry = Entry { value: i.to_le_bytes().to_vec(), expires_at: None };
            let change = Change { set: vec![(field(&role, i), entry)], ..Change::default() };
            let applied = store.apply(&key(), &change, NOW).await.expect("apply");
            assert_eq!(applied, Applied::Done, "apply {i} of {role}");
        }
    });
}
