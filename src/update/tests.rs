//! The updater's disk state and rules, without a network: judging
//! candidates, persisting state, recovering from every point a crash can
//! stop an activation at, and seeding. The HTTPS paths are covered by the
//! integration tests against a real TLS server.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;

use super::state::{self, LIST_FILE, STATE_FILE, State, Verdict};
use super::*;
use crate::config::ListSettings;
use crate::list::build::build_from_str;
use crate::list::{BuildOptions, Bytes, TrustedKeys, Verified};
use crate::metrics::Metrics;

fn key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

fn trust() -> TrustedKeys {
    [key().verifying_key()].into_iter().collect()
}

fn artifact(list_id: &str, serial: u64, source: &str) -> Vec<u8> {
    let opts = BuildOptions {
        list_id: list_id.into(),
        serial,
        issued_at: Timestamp::now(),
        expires_at: Timestamp::now() + jiff::SignedDuration::from_hours(24),
        confidential: Default::default(),
        min_age: Default::default(),
    };
    build_from_str(source, &opts, &key()).unwrap().0
}

fn verified(bytes: Vec<u8>) -> Verified<ListArtifact> {
    list::verify(Bytes::Owned(bytes), &trust()).unwrap()
}

fn settings(dir: &Path, seed: Option<&Path>) -> ListSettings {
    ListSettings {
        url: Some("https://127.0.0.1:9/list.ward".parse().unwrap()),
        state_dir: dir.to_path_buf(),
        file: seed.map(Path::to_path_buf),
        trusted_keys: Vec::new(),
        poll_interval: Duration::from_secs(60),
        ..ListSettings::default()
    }
}

fn updater(dir: &Path, seed: Option<&Path>) -> Updater {
    Updater::new(
        &settings(dir, seed),
        trust(),
        Arc::new(ListStore::new()),
        Arc::clone(Metrics::new().list()),
    )
    .unwrap()
}

#[test]
fn judge_accepts_only_forward_moves_of_the_followed_list() {
    let one = verified(artifact("national", 1, "a.test adult\n"));
    let two = verified(artifact("national", 2, "b.test adult\n"));
    let two_other = verified(artifact("national", 2, "c.test adult\n"));
    let school = verified(artifact("school", 9, "d.test adult\n"));

    let mut st = State::default();
    assert_eq!(state::judge(&st, None, &one), Verdict::Accept);
    st.remember(&one);
    assert_eq!(st.highest_serial, 1);
    assert_eq!(st.list_id.as_deref(), Some("national"));
    assert_eq!(state::judge(&st, Some(one.sha256()), &one), Verdict::Same);
    assert_eq!(state::judge(&st, Some(one.sha256()), &two), Verdict::Accept);
    st.remember(&two);
    assert_eq!(
        state::judge(&st, Some(two.sha256()), &one),
        Verdict::Rollback {
            serial: 1,
            highest: 2
        }
    );
    assert!(matches!(
        state::judge(&st, Some(two.sha256()), &two_other),
        Verdict::Equivocation { serial: 2, .. }
    ));
    assert!(matches!(
        state::judge(&st, Some(two.sha256()), &school),
        Verdict::WrongList { .. }
    ));
    // The highest list, while an older one is in force (seeded after the
    // last-known-good copy was lost): re-installed, not "same".
    assert_eq!(state::judge(&st, Some(one.sha256()), &two), Verdict::Accept);
    // Remembering an older list never lowers the highest serial.
    st.remember(&one);
    assert_eq!(st.highest_serial, 2);
    assert_eq!(st.highest_sha256, Some(hex::encode(two.sha256())));
}

#[test]
fn state_round_trips_and_refuses_garbage() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(State::load(dir.path()).unwrap(), State::default());
    let mut st = State::default();
    st.remember(&verified(artifact("national", 5, "a.test adult\n")));
    st.validators.etag = Some("\"abc\"".into());
    st.save(dir.path()).unwrap();
    let back = State::load(dir.path()).unwrap();
    assert_eq!(back.highest_serial, 5);
    assert_eq!(back.validators.etag.as_deref(), Some("\"abc\""));
    assert_eq!(back.version, state::STATE_VERSION);

    std::fs::write(dir.path().join(STATE_FILE), b"{ not json").unwrap();
    let e = State::load(dir.path()).unwrap_err().to_string();
    assert!(e.contains("corrupt state file"), "{e}");
    // An unreadable state does not stop the updater: it starts from the
    // list on disk instead.
    std::fs::write(
        dir.path().join(LIST_FILE),
        artifact("national", 7, "x.test adult\n"),
    )
    .unwrap();
    let u = updater(dir.path(), None);
    assert_eq!(u.load_initial().unwrap().serial(), 7);
    assert_eq!(State::load(dir.path()).unwrap().highest_serial, 7);
}

/// Every point where a crash can stop an activation leaves either the old
/// or the new list, and the highest serial is never forgotten.
#[test]
fn crash_at_any_step_of_an_activation_recovers_old_or_new() {
    let old = artifact("national", 1, "old.test adult\n");
    let new = artifact("national", 2, "old.test adult\nnew.test adult\n");
    let setup = || {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(LIST_FILE), &old).unwrap();
        let mut st = State::default();
        st.remember(&verified(old.clone()));
        st.save(dir.path()).unwrap();
        dir
    };

    // 1. Killed mid-download (or before verification finished): a partial
    //    temp file. Removed at start; the old list is in force.
    let dir = setup();
    let partial = dir.path().join(".incoming-123-abcdef.ward");
    std::fs::write(&partial, &new[..new.len() / 2]).unwrap();
    std::fs::write(dir.path().join(".state.json.tmp-1-aa"), b"{").unwrap();
    let u = updater(dir.path(), None);
    assert!(!partial.exists(), "stale download removed");
    assert!(!dir.path().join(".state.json.tmp-1-aa").exists());
    assert_eq!(u.load_initial().unwrap().serial(), 1);

    // 2. Killed after the rename, before state.json was written: the new
    //    list is in force and its serial is recorded at start-up.
    let dir = setup();
    std::fs::write(dir.path().join(LIST_FILE), &new).unwrap();
    let u = updater(dir.path(), None);
    assert_eq!(u.load_initial().unwrap().serial(), 2);
    let st = State::load(dir.path()).unwrap();
    assert_eq!(st.highest_serial, 2);
    assert_eq!(
        st.highest_sha256,
        Some(hex::encode(verified(new.clone()).sha256()))
    );

    // 3. Killed after state.json was written: consistent new state.
    let dir = setup();
    std::fs::write(dir.path().join(LIST_FILE), &new).unwrap();
    let mut st = State::load(dir.path()).unwrap();
    st.remember(&verified(new.clone()));
    st.save(dir.path()).unwrap();
    let u = updater(dir.path(), None);
    assert_eq!(u.load_initial().unwrap().serial(), 2);
    // ... and serial 1 can never come back.
    let judged = state::judge(
        &State::load(dir.path()).unwrap(),
        None,
        &verified(old.clone()),
    );
    assert!(matches!(judged, Verdict::Rollback { .. }), "{judged:?}");
}

#[test]
fn seed_is_copied_into_the_state_dir_and_a_corrupt_copy_falls_back_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("state");
    let seed = dir.path().join("seed.ward");
    std::fs::write(&seed, artifact("national", 3, "s.test adult\n")).unwrap();

    // No state dir at all: created, seeded.
    let u = updater(&state_dir, Some(&seed));
    let list = u.load_initial().unwrap();
    assert_eq!(list.serial(), 3);
    assert_eq!(
        std::fs::read(state_dir.join(LIST_FILE)).unwrap(),
        std::fs::read(&seed).unwrap()
    );
    assert_eq!(State::load(&state_dir).unwrap().highest_serial, 3);

    // A corrupted last-known-good copy: the seed again, never nothing.
    let mut bytes = std::fs::read(state_dir.join(LIST_FILE)).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(state_dir.join(LIST_FILE), &bytes).unwrap();
    let u = updater(&state_dir, Some(&seed));
    assert_eq!(u.load_initial().unwrap().serial(), 3);

    // Neither: nothing, and the caller goes to the network.
    std::fs::remove_file(&seed).unwrap();
    std::fs::write(state_dir.join(LIST_FILE), b"garbage").unwrap();
    let u = updater(&state_dir, Some(&seed));
    assert!(u.load_initial().is_none());
}

#[test]
fn an_unusable_list_falls_back_to_the_previous_one() {
    let dir = tempfile::tempdir().unwrap();
    let old = artifact("national", 1, "old.test adult\n");
    std::fs::write(dir.path().join(state::PREV_FILE), &old).unwrap();
    std::fs::write(dir.path().join(LIST_FILE), b"WARDLIST truncated").unwrap();
    let u = updater(dir.path(), None);
    assert_eq!(u.load_initial().unwrap().serial(), 1);
    // list.ward points at the good list again.
    assert_eq!(std::fs::read(dir.path().join(LIST_FILE)).unwrap(), old);
}

#[test]
fn waits_are_jittered_and_back_off_after_failures() {
    let dir = tempfile::tempdir().unwrap();
    let u = updater(dir.path(), None);
    let poll = Duration::from_secs(60);
    for _ in 0..200 {
        let j = jitter(poll);
        assert!(j >= poll.mul_f64(0.9) && j < poll.mul_f64(1.1), "{j:?}");
    }
    let mut waits = Vec::new();
    for failures in 0..8 {
        lock(&u.status).consecutive_failures = failures;
        waits.push(u.next_wait().as_secs_f64() / 60.0);
    }
    // 1, 1, 2, 4, 8, then 16 minutes (x16 at most), each ±10 %.
    let want = [1.0, 1.0, 2.0, 4.0, 8.0, 16.0, 16.0, 16.0];
    for (got, want) in waits.iter().zip(want) {
        assert!((got / want - 1.0).abs() <= 0.1001, "{waits:?}");
    }
    // A long interval is capped at MAX_BACKOFF, a longer one is kept.
    let mut s = settings(dir.path(), None);
    s.poll_interval = Duration::from_secs(20 * 60);
    let u = Updater::new(
        &s,
        trust(),
        Arc::new(ListStore::new()),
        Arc::clone(Metrics::new().list()),
    )
    .unwrap();
    lock(&u.status).consecutive_failures = 4;
    let w = u.next_wait();
    assert!(
        w >= MAX_BACKOFF.mul_f64(0.9) && w < MAX_BACKOFF.mul_f64(1.1),
        "{w:?}"
    );
}

#[test]
fn a_crash_leaves_nothing_behind_in_the_state_dir() {
    // A kill -9 mid-download, mid-state-write, or between the hard link
    // and the rename that keep the previous list.
    let dir = tempfile::tempdir().unwrap();
    for name in [
        format!("{}123", fetch::TEMP_PREFIX),
        ".state.json.tmp-9".to_string(),
        state::PREV_STAGED_FILE.to_string(),
    ] {
        std::fs::write(dir.path().join(name), b"x").unwrap();
    }
    for kept in [state::LIST_FILE, state::PREV_FILE, "state.json"] {
        std::fs::write(dir.path().join(kept), b"x").unwrap();
    }
    assert_eq!(state::remove_stale_downloads(dir.path()), 3);
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["list.prev.ward", "list.ward", "state.json"]);
}
