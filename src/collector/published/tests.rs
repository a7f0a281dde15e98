use ed25519_dalek::SigningKey;

use super::*;
use crate::config::collector::PublishedSettings;
use crate::list::BuildOptions;
use crate::list::build::build_from_str;

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn artifact(list_id: &str, serial: u64, signer: &SigningKey) -> Vec<u8> {
    let opts = BuildOptions {
        list_id: list_id.into(),
        serial,
        issued_at: Timestamp::now(),
        expires_at: Timestamp::now() + jiff::SignedDuration::from_hours(24),
        confidential: Default::default(),
        min_age: Default::default(),
    };
    build_from_str("blocked.test adult\n", &opts, signer)
        .unwrap()
        .0
}

/// A tracker of `dir/national.ward`, trusting key 7.
fn tracker(dir: &Path) -> (Tracker, PathBuf) {
    let public = dir.join("ministry.pub");
    std::fs::write(
        &public,
        crate::keys::public_file_text(&key(7).verifying_key()),
    )
    .unwrap();
    let file = dir.join("national.ward");
    let settings = PublishedSettings {
        source: PublishedSource::File(file.clone()),
        trusted_keys: vec![crate::keys::PublicKeyFile::read(&public).unwrap()],
        ca_file: None,
        poll_interval: Duration::from_secs(60),
        timeout: Duration::from_secs(5),
        max_size: 1 << 20,
    };
    (Tracker::new(&settings, dir).unwrap(), file)
}

/// Replaces the file, with a distinct mtime so a change is seen even on
/// coarse-mtime file systems.
fn publish(file: &Path, bytes: &[u8], tick: u64) {
    std::fs::write(file, bytes).unwrap();
    let f = std::fs::File::options().write(true).open(file).unwrap();
    f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + tick))
        .unwrap();
}

#[tokio::test]
async fn follows_newer_serials_and_refuses_what_does_not_verify_or_goes_back() {
    let dir = tempfile::tempdir().unwrap();
    let (t, file) = tracker(dir.path());

    // Nothing published yet: an error, no latest.
    let (result, problem) = t.check().await;
    assert_eq!(result, CheckResult::FetchError);
    assert!(problem.unwrap().contains("national.ward"));
    assert!(t.latest().is_none());

    publish(&file, &artifact("national", 5, &key(7)), 1);
    assert_eq!(t.check().await.0, CheckResult::New);
    let p = t.latest().unwrap();
    assert_eq!((p.list_id.as_str(), p.serial), ("national", 5));
    assert_eq!(p.sha256.len(), 64);
    // The same file again: unchanged, without reading it.
    assert_eq!(t.check().await.0, CheckResult::Unchanged);

    // Signed by an untrusted key: refused, serial 5 stays.
    publish(&file, &artifact("national", 6, &key(8)), 2);
    let (result, problem) = t.check().await;
    assert_eq!(result, CheckResult::VerifyError, "{problem:?}");
    assert_eq!(t.latest().unwrap().serial, 5);

    // Garbage: refused.
    publish(&file, b"not a list", 3);
    assert_eq!(t.check().await.0, CheckResult::VerifyError);
    assert_eq!(t.latest().unwrap().serial, 5);

    // A rollback: refused.
    publish(&file, &artifact("national", 4, &key(7)), 4);
    let (result, problem) = t.check().await;
    assert_eq!(result, CheckResult::Refused);
    assert!(problem.unwrap().contains("rollback"));
    assert_eq!(t.latest().unwrap().serial, 5);

    // Another list id: refused.
    publish(&file, &artifact("other", 9, &key(7)), 5);
    assert_eq!(t.check().await.0, CheckResult::Refused);

    // The same serial rebuilt: unchanged. A newer one: new.
    publish(&file, &artifact("national", 5, &key(7)), 6);
    assert_eq!(t.check().await.0, CheckResult::Unchanged);
    publish(&file, &artifact("national", 7, &key(7)), 7);
    assert_eq!(t.check().await.0, CheckResult::New);
    assert_eq!(t.latest().unwrap().serial, 7);
}

#[test]
fn only_the_same_list_at_no_lower_serial_follows() {
    let at = Timestamp::UNIX_EPOCH;
    let list = |list_id: &str, serial| Published {
        list_id: list_id.into(),
        serial,
        issued_at: at,
        expires_at: at,
        sha256: String::new(),
        verified_at: at,
    };
    let prev = list("national", 5);
    assert!(follows(&prev, &list("national", 6)).is_ok());
    // The same serial again follows; the caller reports it unchanged.
    assert!(follows(&prev, &list("national", 5)).is_ok());
    let e = follows(&prev, &list("national", 4))
        .unwrap_err()
        .to_string();
    assert!(e.contains("a rollback, refused"), "{e}");
    let e = follows(&prev, &list("regional", 9))
        .unwrap_err()
        .to_string();
    assert!(e.contains("restart the collector"), "{e}");
}
