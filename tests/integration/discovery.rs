//! Discovery of Designated Resolvers (RFC 9462) against a real `ward
//! serve` with `[dot]` and `[doh]`, asked with real `dig`: ward's own
//! endpoints for an address its certificate (from a test CA) covers,
//! whatever the client's profile and its `ddr` switch, never the
//! upstream's; a profile selected by its listen address gets its client
//! id, or NODATA without one; an address the certificate does not cover
//! behaves as before.

use std::net::SocketAddr;
use std::path::Path;

use crate::bypass::Upstream;
use crate::schools::have_dig;
use crate::serve::{config, key};
use crate::support::ward::{TEST_LIST, Ward, write_list};

/// Where the `[dot]` and `[doh]` sections listen: a loopback address of
/// this test's own, so a transport that binds it races no other test.
const DOT: &str = "127.31.19.1:8853";
const DOH: &str = "127.31.19.1:8443";

/// A test CA and a leaf for `dns.ward.test`, `*.dns.ward.test` and the
/// addresses 127.0.0.1, .5 and .6 (not .7), as `dns.pem` (leaf, then the
/// CA) and `dns.key`; the CA as `ca.pem`.
fn write_certificate(dir: &Path) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "ward discovery test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let ca = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let names = [
        "dns.ward.test",
        "*.dns.ward.test",
        "127.0.0.1",
        "127.0.0.5",
        "127.0.0.6",
    ];
    let mut leaf = CertificateParams::new(names.map(str::to_owned).to_vec()).unwrap();
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_cert = leaf.signed_by(&leaf_key, &ca).unwrap();
    std::fs::write(
        dir.join("dns.pem"),
        format!("{}{}", leaf_cert.pem(), ca_cert.pem()),
    )
    .unwrap();
    std::fs::write(dir.join("dns.key"), leaf_key.serialize_pem()).unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
}

/// 127.0.0.2: a profile by network (`ddr` on); 127.0.0.4: by network,
/// `ddr` off; 127.0.0.1: no profile. The listen addresses 127.0.0.5
/// (`lab`, client id `lab`) and 127.0.0.6 (`kiosk`, no client id) select
/// their profiles; 127.0.0.7 is not in the certificate.
fn ward_config(up: SocketAddr) -> String {
    let base = config(&[up], "", "");
    let four = r#"listen = ["127.0.0.1:0", "127.0.0.5:0", "127.0.0.6:0", "127.0.0.7:0"]"#;
    let cfg = base.replacen(r#"listen = ["127.0.0.1:0"]"#, four, 1);
    assert!(cfg.contains(four), "{cfg}");
    format!(
        r#"{cfg}
[dot]
listen = ["{DOT}"]
cert = "dns.pem"
key = "dns.key"
server_name = "dns.ward.test"

[doh]
listen = ["{DOH}"]
cert = "dns.pem"
key = "dns.key"
server_name = "dns.ward.test"

[[profile]]
name = "primary"
clients = ["127.0.0.2"]
age = 10

[[profile]]
name = "open"
clients = ["127.0.0.4"]
age = 17
[profile.bypass]
ddr = false

[[profile]]
name = "lab"
listen = ["127.0.0.5:0"]
client_ids = ["lab"]
age = 12

[[profile]]
name = "kiosk"
listen = ["127.0.0.6:0"]
age = 12
"#
    )
}

/// The UDP address ward logged for listen address `ip`.
fn udp_on(w: &Ward, ip: &str) -> SocketAddr {
    let logs = w.logs();
    logs.match_indices("listening for UDP on ")
        .filter_map(|(at, marker)| {
            let rest = &logs[at + marker.len()..];
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            rest[..end].parse::<SocketAddr>().ok()
        })
        .find(|a| a.ip().to_string() == ip)
        .unwrap_or_else(|| panic!("no UDP listener on {ip}:\n{logs}"))
}

/// `dig -b SOURCE @SERVER _dns.resolver.arpa TYPE`, over UDP.
async fn ask(server: SocketAddr, source: &str, qtype: &str) -> String {
    ask_over(server, source, qtype, "+notcp").await
}

/// The same over `transport` (`+tcp`, `+notcp`).
async fn ask_over(server: SocketAddr, source: &str, qtype: &str, transport: &str) -> String {
    let out = tokio::process::Command::new("dig")
        .args(["-b", source, &format!("@{}", server.ip())])
        .args(["-p", &server.port().to_string(), "+tries=1", "+time=5"])
        .args(["_dns.resolver.arpa", qtype, transport])
        .output()
        .await
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn status(text: &str) -> &str {
    text.split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or("")
}

/// The SVCB records of the answer section, one line each, from the
/// priority on.
fn svcb(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with("_dns.resolver.arpa.") && l.contains("\tSVCB\t"))
        .map(|l| l.rsplit('\t').next().unwrap_or("").to_owned())
        .collect()
}

/// ward's own two records for a client without a client id.
fn is_ours(text: &str) -> bool {
    let records = svcb(text);
    status(text) == "NOERROR"
        && records.len() == 2
        && records[0].starts_with("1 dns.ward.test. alpn=\"dot\" port=8853 ipv4hint=127.31.19.1")
        && records[1].starts_with("2 dns.ward.test. alpn=\"h2\" port=8443 ipv4hint=127.31.19.1")
        && records[1].contains("\"/dns-query{?dns}\"")
        && !text.contains("dns.example.test")
}

fn nodata(text: &str) -> bool {
    status(text) == "NOERROR" && text.contains("ANSWER: 0,") && !text.contains("dns.example.test")
}

#[tokio::test]
async fn ward_designates_its_own_encrypted_endpoints() {
    if !have_dig() {
        return;
    }
    // The upstream designates `dns.example.test`: never passed on for an
    // address ward designates itself for.
    let up = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    write_list(dir.path(), &key(), 1, TEST_LIST);
    write_certificate(dir.path());
    let w = Ward::start(dir.path(), &ward_config(up.addr), false);
    let main = udp_on(&w, "127.0.0.1");
    // Every client of the covered address, with or without a profile,
    // `ddr` on or off, over UDP and TCP.
    for source in ["127.0.0.2", "127.0.0.4", "127.0.0.1"] {
        let text = ask(main, source, "SVCB").await;
        assert!(is_ours(&text), "{source}: {text}");
        assert!(text.contains("flags: qr aa rd ra"), "{source}: {text}");
        let tcp = ask_over(main, source, "SVCB", "+tcp").await;
        assert!(is_ours(&tcp), "{source} over TCP: {tcp}");
    }
    // Other types: as before (NODATA under `ddr`).
    let text = ask(main, "127.0.0.2", "A").await;
    assert!(nodata(&text), "{text}");
    // The profile of 127.0.0.5 comes from that address, which DoT and DoH
    // do not have: the records carry its client id.
    let lab = ask(udp_on(&w, "127.0.0.5"), "127.0.0.1", "SVCB").await;
    let records = svcb(&lab);
    assert_eq!(records.len(), 2, "{lab}");
    assert!(
        records[0].starts_with("1 lab.dns.ward.test. alpn=\"dot\" port=8853"),
        "{lab}"
    );
    assert!(
        records[1].starts_with("2 dns.ward.test. alpn=\"h2\" port=8443")
            && records[1].contains("\"/dns-query/lab{?dns}\""),
        "{lab}"
    );
    // A listen-address profile without a client id would lose its profile
    // by upgrading: nothing designated.
    let kiosk = ask(udp_on(&w, "127.0.0.6"), "127.0.0.1", "SVCB").await;
    assert!(nodata(&kiosk), "{kiosk}");
    // 127.0.0.7 is not in the certificate: nothing designated, NODATA,
    // with a profile or without: never the upstream's answer (RFC 9462
    // §6.4), which would name a resolver past the filter.
    let uncovered = udp_on(&w, "127.0.0.7");
    let text = ask(uncovered, "127.0.0.2", "SVCB").await;
    assert!(nodata(&text), "{text}");
    let text = ask(uncovered, "127.0.0.1", "SVCB").await;
    assert!(
        nodata(&text) && !text.contains("dns.example.test"),
        "{text}"
    );
    // The covered address still gets ward's own.
    let text = ask(main, "127.0.0.1", "SVCB").await;
    assert!(is_ours(&text), "{text}");
    up.stop().await;
}
