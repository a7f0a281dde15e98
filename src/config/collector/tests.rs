use std::path::Path;

use super::*;
use crate::keys;

/// Writes a registry of one node into `dir`; returns its path.
fn registry_file(dir: &Path) -> PathBuf {
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
    std::fs::write(dir.join("n1.pub"), keys::public_file_text(&key)).unwrap();
    let path = dir.join("registry.toml");
    std::fs::write(
        &path,
        format!(
            "[[node]]\nisp_id = \"isp\"\nnode_id = \"n1\"\nkey = {:?}\n",
            dir.join("n1.pub")
        ),
    )
    .unwrap();
    path
}

/// A self-signed certificate and its key, as PEM files in `dir`.
fn tls_files(dir: &Path) -> (PathBuf, PathBuf) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (c, k) = (dir.join("c.pem"), dir.join("c.key"));
    std::fs::write(&c, cert.cert.pem()).unwrap();
    std::fs::write(&k, cert.signing_key.serialize_pem()).unwrap();
    (c, k)
}

fn hash(password: &str) -> String {
    use argon2::PasswordHasher;
    argon2::Argon2::default()
        .hash_password_with_salt(password.as_bytes(), b"0123456789abcdef")
        .unwrap()
        .to_string()
}

fn parse(text: &str) -> Result<CollectorConfig, Vec<String>> {
    CollectorConfig::parse(text, "c.toml")
        .map_err(|e| e.0.iter().map(ToString::to_string).collect())
}

#[test]
fn minimal_config_takes_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry_file(dir.path());
    let c = parse(&format!("registry = {reg:?}\n")).unwrap();
    assert_eq!(c.listen, DEFAULT_COLLECTOR_LISTEN);
    assert_eq!(c.tls, None);
    assert_eq!(
        c.storage,
        StorageSettings::Sqlite(PathBuf::from(DEFAULT_STORAGE))
    );
    assert_eq!(c.max_body, DEFAULT_MAX_BODY);
    assert_eq!(c.report_interval, DEFAULT_EXPECTED_INTERVAL);
    assert!(c.users.is_empty());
    assert_eq!(c.registry.nodes().len(), 1);
    assert_eq!(c.registry_file, reg);
}

#[test]
fn full_config_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry_file(dir.path());
    let (cert, key) = tls_files(dir.path());
    let h = hash("demo");
    let text = format!(
        "listen = \"127.0.0.1:0\"\nregistry = {reg:?}\nstorage = \"c.db\"\nmax_body = \"8KiB\"\nreport_interval = \"1s\"\n\
         [tls]\ncert = {cert:?}\nkey = {key:?}\n\
         [[user]]\nname = \"demo\"\npassword_hash = \"{h}\"\n\
         [log]\nlevel = \"debug\"\n"
    );
    let c = parse(&text).unwrap();
    assert_eq!(c.listen.port(), 0);
    assert_eq!(c.storage, StorageSettings::Sqlite(PathBuf::from("c.db")));
    assert_eq!(c.max_body, 8 << 10);
    assert_eq!(c.report_interval, Duration::from_secs(1));
    let tls = c.tls.as_ref().map(|t| (&t.cert, &t.key));
    assert_eq!(tls, Some((&cert, &key)));
    assert_eq!(c.users.len(), 1);
    assert_eq!(c.users[0].name, "demo");
    assert_eq!(c.log.level, "debug");
    assert!(
        !format!("{:?}", c.users[0]).contains("argon2"),
        "Debug hides the hash"
    );
}

#[test]
fn every_problem_at_once_including_the_registrys() {
    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().join("bad-registry.toml");
    std::fs::write(&reg, "[[node]]\nisp_id = \"isp\"\n").unwrap();
    let (cert, _) = tls_files(dir.path());
    let text = format!(
        "listen = \"nowhere\"\nregistry = {reg:?}\nstorage = \"postgres://ward:hunter2@db/ward?sslmode=prefer\"\nmax_body = 10\nlsten = 1\n\
         [tls]\ncert = {cert:?}\n\
         [[user]]\nname = \"a:b\"\npassword_hash = \"secret\"\n\
         [[user]]\npassword_hash = \"{h}\"\n",
        h = hash("x")
    );
    let errors = parse(&text).unwrap_err();
    let want = [
        "c.toml:1: listen: invalid address \"nowhere\"",
        "c.toml:3: storage: sslmode=prefer falls back to plain text",
        "c.toml:4: max_body: 10 bytes is out of range",
        "c.toml:5: lsten: unknown key `lsten`; did you mean `listen`?",
        "tls.key: required in [tls]",
        "c.toml:9: user[0].name: invalid user name \"a:b\"",
        "c.toml:10: user[0].password_hash: not an Argon2 PHC string",
        "user[1].name: required in [[user]]",
        "node[0].node_id: required in [[node]]",
        "node[0].key: required in [[node]]",
    ];
    assert_eq!(errors.len(), want.len(), "{errors:#?}");
    for w in want {
        assert!(errors.iter().any(|e| e.contains(w)), "{w}\nin {errors:#?}");
    }
    assert!(
        errors.iter().all(|e| !e.contains("hunter2")),
        "the URL's password is never repeated: {errors:#?}"
    );
    let registry_errors: Vec<_> = errors.iter().filter(|e| e.contains("node[0]")).collect();
    assert!(
        registry_errors
            .iter()
            .all(|e| e.contains("bad-registry.toml:")),
        "registry errors name the registry file: {registry_errors:#?}"
    );
}

#[test]
fn a_missing_registry_is_required() {
    let errors = parse("listen = \"127.0.0.1:8443\"\n").unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("registry: required"), "{errors:?}");
}

#[test]
fn mismatched_tls_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry_file(dir.path());
    let (cert, _) = tls_files(dir.path());
    let other = tempfile::tempdir().unwrap();
    let (_, key) = tls_files(other.path());
    let errors = parse(&format!(
        "registry = {reg:?}\n[tls]\ncert = {cert:?}\nkey = {key:?}\n"
    ))
    .unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("do not match"), "{errors:?}");
}

#[test]
fn password_hashes_must_be_argon2() {
    assert!(check_password_hash(&hash("demo")).is_ok());
    assert!(check_password_hash("demo").is_err());
    assert!(
        check_password_hash("$pbkdf2-sha256$i=1000$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
            .unwrap_err()
            .to_string()
            .contains("argon2id")
    );
}

// Run from the package root (as `cargo test` does), like the README.
#[test]
fn the_demo_example_parses_and_its_password_is_demo() {
    let c = CollectorConfig::load(Path::new("examples/collector.toml")).unwrap();
    assert_eq!(c.listen, DEFAULT_COLLECTOR_LISTEN);
    assert!(c.tls.is_some());
    let nodes = c.registry.nodes();
    assert_eq!(nodes.len(), 1);
    assert_eq!(
        (nodes[0].isp_id.as_str(), nodes[0].node_id.as_str()),
        ("demo-isp", "demo-node")
    );
    // The registered key is the demo node's, as examples/node-reporting.toml uses it.
    let node_key = keys::read_secret(Path::new("examples/demo-node.key")).unwrap();
    assert_eq!(nodes[0].key, node_key.verifying_key());
    assert_eq!(c.users.len(), 1);
    let login = format!(
        "Basic {}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "demo:demo")
    );
    assert!(crate::collector::auth::authorized(
        Some(login.as_bytes()),
        &c.users
    ));
}

#[test]
fn published_takes_a_url_or_a_file_and_trusted_keys() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry_file(dir.path());
    let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]).verifying_key();
    let public = dir.path().join("ministry.pub");
    std::fs::write(&public, keys::public_file_text(&key)).unwrap();
    let c = parse(&format!(
        "registry = {reg:?}\n[published]\nurl = \"https://lists.example/national.ward\"\ntrusted_keys = [{public:?}]\n"
    ))
    .unwrap();
    let p = c.published.unwrap();
    assert_eq!(
        p.source,
        PublishedSource::Url("https://lists.example/national.ward".parse().unwrap())
    );
    assert_eq!(p.poll_interval, DEFAULT_PUBLISHED_POLL);
    let paths: Vec<&Path> = p
        .trusted_keys
        .iter()
        .map(keys::PublicKeyFile::path)
        .collect();
    assert_eq!(paths, [public.as_path()]);
    assert_eq!(p.trusted_keys[0].key(), &key);
    let c = parse(&format!(
        "registry = {reg:?}\n[published]\nfile = \"/srv/national.ward\"\ntrusted_keys = [{public:?}]\npoll_interval = \"10s\"\n"
    ))
    .unwrap();
    let p = c.published.unwrap();
    assert_eq!(p.source, PublishedSource::File("/srv/national.ward".into()));
    assert_eq!(p.poll_interval, Duration::from_secs(10));

    // Every problem at once, [log]'s too: neither source, no keys, a
    // plain-http URL elsewhere, and a bad log level.
    let errors = parse(&format!(
        "registry = {reg:?}\n[published]\npoll_interval = \"1s\"\n[log]\nlevel = \"loud\"\n"
    ))
    .unwrap_err();
    let text = errors.join("\n");
    assert!(text.contains("published.url"), "{text}");
    assert!(text.contains("published.trusted_keys"), "{text}");
    assert!(text.contains("published.poll_interval"), "{text}");
    assert!(text.contains("log.level"), "{text}");
    let errors = parse(&format!(
        "registry = {reg:?}\n[published]\nurl = \"http://lists.example/l.ward\"\nfile = \"x\"\ntrusted_keys = [{public:?}]\n"
    ))
    .unwrap_err();
    assert!(errors.join("\n").contains("https"), "{errors:?}");
    let errors = parse(&format!(
        "registry = {reg:?}\n[published]\nurl = \"https://lists.example/l.ward\"\nfile = \"x\"\ntrusted_keys = [{public:?}]\n"
    ))
    .unwrap_err();
    assert!(
        errors.join("\n").contains("either url or file"),
        "{errors:?}"
    );
}
