use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::keys::PublicKeyFile;

const DEMO_PUB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo.pub");
const DEMO_WARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo.ward");
const RESOLV: &str = "nameserver 192.0.2.53\n";

/// Parses with a fixed resolv.conf, so tests do not depend on the host.
fn parse(text: &str) -> Result<Config, ConfigErrors> {
    Config::parse_with(text, "t.toml", || Some(RESOLV.to_owned()))
}

/// The error lines of a config that must fail.
fn errors(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(c) => panic!("expected errors, got {c:?}"),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

/// A `[list]` section that passes, with absolute paths.
fn list_section() -> String {
    format!("[list]\nfile = {DEMO_WARD:?}\ntrusted_keys = [{DEMO_PUB:?}]\n")
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// The `.pub` file at `path`, read as a trusted key.
fn public_key(path: &str) -> PublicKeyFile {
    PublicKeyFile::read(Path::new(path)).unwrap()
}

/// The files trusted keys were read from, as named.
fn key_paths(keys: &[PublicKeyFile]) -> Vec<&Path> {
    keys.iter().map(PublicKeyFile::path).collect()
}

/// A file config with every default, as a reference value.
fn default_file_config() -> Config {
    Config {
        dns: DnsSettings {
            upstreams: vec![addr("192.0.2.53:53")],
            ..DnsSettings::default()
        },
        cache: CacheLimits::default(),
        limits: LimitSettings::default(),
        list: ListSettings {
            file: Some(PathBuf::from(DEMO_WARD)),
            trusted_keys: vec![public_key(DEMO_PUB)],
            ..ListSettings::default()
        },
        block: BlockAnswer::default(),
        admin: AdminSettings::default(),
        log: LogSettings::default(),
        process: ProcessSettings::default(),
        sni: None,
        http: None,
        blockpage: None,
        report: None,
        node: NodeSettings::default(),
        lists: Vec::new(),
        profiles: Vec::new(),
        dot: None,
        doh: None,
        rpz: None,
    }
}

fn example_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        // The collector's own files (config::collector::tests reads them).
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("collector"))
        })
        .collect();
    files.sort();
    files
}

// The example files name their keys relative to the working directory,
// which `cargo test` sets to the package root.
#[test]
fn every_example_parses() {
    let files = example_files();
    assert!(files.len() >= 2, "{files:?}");
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        if let Err(e) = Config::parse_with(&text, &path.display().to_string(), || {
            Some(RESOLV.to_owned())
        }) {
            panic!("{e}");
        }
    }
}

#[test]
fn example_has_the_documented_values() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/ward.toml");
    let c = Config::load(&path).unwrap();
    assert_eq!(c.dns.listen, [addr("127.0.0.1:5353")]);
    assert_eq!(c.dns.upstreams, [addr("127.0.0.2:5300")]);
    assert_eq!(c.dns.allow_clients, DEFAULT_ALLOW_CLIENTS);
    assert_eq!(c.list.file, Some(PathBuf::from("examples/demo.ward")));
    assert_eq!(
        key_paths(&c.list.trusted_keys),
        [Path::new("examples/demo.pub")]
    );
    assert_eq!(c.list.state_dir, PathBuf::from("/var/lib/ward"));
    assert!(!c.list.demo);
    assert_eq!(c.block.mode, BlockMode::Sinkhole);
    assert_eq!(c.block.ipv4, [Ipv4Addr::new(192, 0, 2, 1)]);
    assert_eq!(c.block.ipv6, ["2001:db8::1".parse::<Ipv6Addr>().unwrap()]);
    assert_eq!(c.block.ttl, 60);
    assert_eq!(c.admin.listen, Some(addr("127.0.0.1:9153")));
    // Everything else in the example is the default.
    let defaults = Config {
        dns: DnsSettings {
            upstreams: c.dns.upstreams.clone(),
            ..DnsSettings::default()
        },
        list: c.list.clone(),
        block: c.block.clone(),
        ..default_file_config()
    };
    assert_eq!(c, defaults);
}

#[test]
fn minimal_file_takes_every_default() {
    let c = parse(&list_section()).unwrap();
    assert_eq!(c, default_file_config());
}

#[test]
fn round_trip_through_to_toml() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/ward.toml");
    let example = Config::load(&path).unwrap();
    let odd = Config {
        dns: DnsSettings {
            listen: vec![addr("[::1]:53"), addr("0.0.0.0:5300")],
            upstreams: vec![addr("192.0.2.1:53"), addr("[2001:db8::53]:5353")],
            allow_clients: vec![
                "10.1.2.3/8".parse().unwrap(),
                "2001:db8::/32".parse().unwrap(),
            ],
            upstream_timeout: Duration::from_millis(1500),
            upstream_attempts: 5,
            tcp_idle_timeout: Duration::from_secs(3600),
            tcp_max_connections: 1,
            udp_workers: 7,
            edns_payload: 4096,
        },
        cache: CacheLimits {
            max_entries: 0,
            max_memory: 1000,
            min_ttl: 30,
            max_ttl: 30,
            max_negative_ttl: 0,
        },
        limits: LimitSettings {
            client_qps: 250,
            client_prefix_v4: 32,
            client_prefix_v6: 64,
            rrl: 0,
            slip: 0,
            exempt: vec![
                "100.64.0.0/10".parse().unwrap(),
                "2001:db8:1::/48".parse().unwrap(),
            ],
        },
        list: ListSettings {
            file: Some(PathBuf::from("/srv/ward/list \"q\".ward")),
            trusted_keys: vec![public_key(DEMO_PUB), public_key("examples/demo.pub")],
            state_dir: PathBuf::from("state"),
            require_list: true,
            url: Some(
                "https://lists.example.gov.vn/national.ward?v=1"
                    .parse()
                    .unwrap(),
            ),
            poll_interval: Duration::from_secs(90),
            ca_file: None,
            timeout: Duration::from_secs(45),
            max_size: 512 << 20,
            demo: false,
        },
        block: BlockAnswer {
            mode: BlockMode::NxDomain,
            ipv4: vec![],
            ipv6: vec![],
            ttl: 86_400,
        },
        admin: AdminSettings { listen: None },
        log: LogSettings {
            level: "trace".into(),
            format: LogFormat::Json,
            query_log: true,
        },
        process: ProcessSettings {
            user: Some("root".into()),
            group: Some("root".into()),
        },
        // With process.user: redirect mode and no mark.
        sni: Some(InterceptSettings {
            listen: vec![addr("0.0.0.0:8443"), addr("[::]:8443")],
            mode: InterceptMode::Redirect,
            read_timeout: Duration::from_millis(2500),
            max_read: 4096,
            connect_timeout: Duration::from_secs(3),
            idle_timeout: Duration::from_secs(7200),
            mark: 0,
            on_unparsable: OnUnparsable::Block,
            max_connections: 7,
            relay: RelayMode::Copy,
        }),
        http: None,
        blockpage: Some(BlockPageSettings {
            listen: vec![addr("192.0.2.1:80")],
            template: None,
            appeal_url: "https://isp.example/appeal?q=x&lang=vi".into(),
            blocked_by: "https://isp.example/".into(),
            hotline: "1800 1567".into(),
            read_timeout: Duration::from_secs(1),
            max_head: 1024,
            page: crate::config::web::BuiltPage(std::sync::Arc::new(
                crate::blockpage::BlockPage::new(&crate::blockpage::PageSettings {
                    template: None,
                    appeal_url: "https://isp.example/appeal?q=x&lang=vi".into(),
                    blocked_by: "https://isp.example/".into(),
                    hotline: "1800 1567".into(),
                })
                .unwrap(),
            )),
        }),
        report: None,
        lists: Vec::new(),
        node: NodeSettings {
            time_zone: crate::profiles::time_zone("Europe/Berlin").unwrap(),
        },
        profiles: Vec::new(),
        dot: None,
        doh: None,
        rpz: None,
    };
    let tproxy = Config {
        process: ProcessSettings::default(),
        sni: None,
        http: Some(InterceptSettings {
            listen: vec![addr("127.0.0.1:8080")],
            mode: InterceptMode::Tproxy,
            ..InterceptSettings::http_defaults()
        }),
        ..odd.clone()
    };
    for c in [example, default_file_config(), odd, tproxy] {
        let text = c.to_toml();
        // `|| None`: upstreams are always written, resolv.conf is not read.
        let back = Config::parse_with(&text, "round-trip", || None)
            .unwrap_or_else(|e| panic!("{e}\n--- text:\n{text}"));
        assert_eq!(back, c, "{text}");
    }
}

#[test]
fn reports_every_error_at_once() {
    let text = format!(
        r#"[dns]
lisen = ["127.0.0.1:53"]
listen = ["127.0.0.1:5353",
          "localhost:53"]
upstreams = ["192.0.2.53"]
upstream_timeout = "2 parsecs"
upstream_attempts = "two"

[cache]
min_ttl = 600
max_ttl = 60
max_memory = "lots"

{}
[block]
action = "drop"
sinkhole_ipv4 = ["2001:db8::1"]
ttl = 0

[bogus]
x = 1
"#,
        list_section()
    );
    assert_eq!(
        errors(&text),
        [
            "t.toml:2: dns.lisen: unknown key `dns.lisen`; did you mean `dns.listen`?",
            "t.toml:4: dns.listen[1]: invalid address \"localhost:53\"; write IP:PORT, e.g. \"127.0.0.1:5353\" or \"[::1]:5353\"",
            "t.toml:6: dns.upstream_timeout: invalid duration \"2 parsecs\" (unknown time unit \"parsecs\", supported units: ns, us/µs, ms, sec, min, hours, days, weeks, months, years (and few variations)); write e.g. \"2s\" or \"1500ms\"",
            "t.toml:7: dns.upstream_attempts: expected an integer, found string \"two\"",
            "t.toml:10: cache.min_ttl: 600 is greater than cache.max_ttl (60); lower min_ttl or raise max_ttl",
            "t.toml:12: cache.max_memory: expected a size in bytes (an integer, or a string like \"64MiB\" or \"100MB\"), found \"lots\"",
            "t.toml:19: block.action: expected one of \"sinkhole\", \"nxdomain\", \"refused\", found \"drop\"",
            "t.toml:20: block.sinkhole_ipv4[0]: invalid IPv4 address \"2001:db8::1\"; write e.g. \"192.0.2.1\"",
            "t.toml:21: block.ttl: must be between 1 and 86400, found 0",
            "t.toml:23: bogus: unknown section `[bogus]`",
        ]
    );
}

#[test]
fn errors_display_one_per_line() {
    let e = parse("[dns]\nedns_payload = 100\n[log]\nlevel = \"loud\"\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "t.toml:2: dns.edns_payload: must be between 512 and 4096, found 100\n\
         t.toml:4: log.level: expected one of \"error\", \"warn\", \"info\", \"debug\", \"trace\", found \"loud\"\n\
         t.toml: list.file: required unless list.url is set: set it to the signed list artifact (.ward file) to enforce\n\
         t.toml: list.trusted_keys: required: list the .pub file(s) of the key(s) the list is signed with"
    );
}

#[test]
fn syntax_error_reports_its_line() {
    assert_eq!(
        errors("[dns]\nlisten = [\"127.0.0.1:5353\"]\nupstreams = resolver\n"),
        ["t.toml:3: TOML syntax error: string values must be quoted, expected literal string"]
    );
    assert_eq!(
        errors("[dns]\nlisten = 1\nlisten = 2\n"),
        ["t.toml:3: TOML syntax error: duplicate key"]
    );
    // Unclosed at the end of the file: the last line, not one past it.
    let e = errors("[dns]\nlisten = [\"127.0.0.1:5353\"\n");
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("t.toml:2: TOML syntax error: "), "{e:?}");
}

#[test]
fn unknown_keys_and_sections() {
    let text = format!(
        "top = 1\n[dsn]\n[dns.extra]\n[log]\nqueryl_og = true\nlevl = \"info\"\n[admin]\nlisten = \"off\"\nport = 1\n{}",
        list_section()
    );
    assert_eq!(
        errors(&text),
        [
            "t.toml:1: top: unknown key `top`",
            "t.toml:2: dsn: unknown section `[dsn]`; did you mean `[dns]`?",
            "t.toml:3: dns.extra: unknown key `dns.extra`",
            "t.toml:5: log.queryl_og: unknown key `log.queryl_og`; did you mean `log.query_log`?",
            "t.toml:6: log.levl: unknown key `log.levl`; did you mean `log.level`?",
            "t.toml:9: admin.port: unknown key `admin.port`",
        ]
    );
}

#[test]
fn wrong_shapes() {
    let text = format!(
        "dns = 5\n[cache]\nmax_entries = 1.5\nmin_ttl = -1\n[block]\nsinkhole_ipv6 = \"::1\"\n{}",
        list_section()
    );
    assert_eq!(
        errors(&text),
        [
            "t.toml:1: dns: expected a table ([dns]), found integer 5",
            "t.toml:3: cache.max_entries: expected an integer, found float 1.5",
            "t.toml:4: cache.min_ttl: must be between 0 and 2147483647, found -1",
            "t.toml:6: block.sinkhole_ipv6: expected an array, found string \"::1\"; write [...] even for one entry",
        ]
    );
}

#[test]
fn upstream_forms() {
    let c = parse(&format!(
        "[dns]\nupstreams = [\"192.0.2.1\", \"192.0.2.2:5300\", \"2001:db8::1\", \"[2001:db8::2]:5300\", \"[2001:db8::3]\"]\n{}",
        list_section()
    ))
    .unwrap();
    assert_eq!(
        c.dns.upstreams,
        [
            addr("192.0.2.1:53"),
            addr("192.0.2.2:5300"),
            addr("[2001:db8::1]:53"),
            addr("[2001:db8::2]:5300"),
            addr("[2001:db8::3]:53"),
        ]
    );
    let text = format!(
        "[dns]\nlisten = [\"0.0.0.0:53\"]\nupstreams = [\"resolver.example\", \"192.0.2.1\", \"192.0.2.1:53\", \"127.0.0.1\", \"0.0.0.0\", \"192.0.2.9:0\"]\n{}",
        list_section()
    );
    let e = errors(&text);
    assert_eq!(e.len(), 5, "{e:#?}");
    assert!(e[0].starts_with("t.toml:3: dns.upstreams[0]: invalid address \"resolver.example\"; write an IP address (port 53 is implied)"), "{e:#?}");
    assert_eq!(
        e[1..],
        [
            "t.toml:3: dns.upstreams[2]: duplicate of dns.upstreams[1]",
            "t.toml:3: dns.upstreams[3]: 127.0.0.1:53 is one of ward's own dns.listen addresses; queries would loop",
            "t.toml:3: dns.upstreams[4]: 0.0.0.0:53 is not a resolver address; name a recursive resolver",
            "t.toml:3: dns.upstreams[5]: 192.0.2.9:0 is not a resolver address; name a recursive resolver",
        ]
    );
    assert_eq!(
        errors(&format!("[dns]\nupstreams = []\n{}", list_section())),
        [
            "t.toml:2: dns.upstreams: empty: ward would have nowhere to send allowed queries; name at least one recursive resolver, or remove the key to use /etc/resolv.conf"
        ]
    );
}

#[test]
fn upstreams_default_to_resolv_conf() {
    let resolv = "nameserver 127.0.0.1\nnameserver 192.0.2.7\n";
    let text = format!("[dns]\nlisten = [\"127.0.0.1:53\"]\n{}", list_section());
    let c = Config::parse_with(&text, "t.toml", || Some(resolv.to_owned())).unwrap();
    // 127.0.0.1:53 is ward itself.
    assert_eq!(c.dns.upstreams, [addr("192.0.2.7:53")]);

    for resolv in [None, Some(""), Some("nameserver 127.0.0.1\n")] {
        let e = Config::parse_with(&text, "t.toml", || resolv.map(str::to_owned)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.toml: dns.upstreams: not set and /etc/resolv.conf names no usable nameserver; set dns.upstreams to your recursive resolvers, e.g. [\"192.0.2.53\"]"
        );
    }
}

#[test]
fn allow_clients_bare_ip_is_one_host() {
    let c = parse(&format!(
        "[dns]\nallow_clients = [\"192.0.2.7\", \"2001:db8::7\", \"198.51.100.0/24\"]\n{}",
        list_section()
    ))
    .unwrap();
    let nets: Vec<String> = c
        .dns
        .allow_clients
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(nets, ["192.0.2.7/32", "2001:db8::7/128", "198.51.100.0/24"]);
    let e = errors(&format!(
        "[dns]\nallow_clients = [\"192.0.2.0/33\"]\n{}",
        list_section()
    ));
    assert!(
        e[0].starts_with("t.toml:2: dns.allow_clients[0]: invalid network \"192.0.2.0/33\""),
        "{e:?}"
    );
    assert_eq!(
        errors(&format!("[dns]\nallow_clients = []\n{}", list_section())),
        ["t.toml:2: dns.allow_clients: must not be empty; remove the key to use the default"]
    );
}

#[test]
fn listen_needs_ports_and_no_duplicates() {
    let e = errors(&format!(
        "[dns]\nlisten = [\"127.0.0.1\", \"[::1]:53\", \"[::1]:53\"]\n{}",
        list_section()
    ));
    assert_eq!(
        e,
        [
            "t.toml:2: dns.listen[0]: invalid address \"127.0.0.1\"; write IP:PORT, e.g. \"127.0.0.1:5353\" or \"[::1]:5353\"",
            "t.toml:2: dns.listen[2]: duplicate of dns.listen[1]",
        ]
    );
    assert_eq!(
        errors(&format!("[dns]\nlisten = []\n{}", list_section())),
        ["t.toml:2: dns.listen: must not be empty; remove the key to use the default"]
    );
}

#[test]
fn parse_resolv_conf_cases() {
    let text = "\
# generated by NetworkManager
search example.net
nameserver 192.0.2.1
nameserver   192.0.2.2   # trailing comment
; nameserver 192.0.2.3
#nameserver 192.0.2.4
nameserver 2001:db8::1
nameserver fe80::1%eth0
nameserver not-an-ip
nameserver
nameservers 192.0.2.5
options edns0 trust-ad
nameserver 192.0.2.1
\tnameserver\t192.0.2.6
";
    assert_eq!(
        parse_resolv_conf(text),
        [
            addr("192.0.2.1:53"),
            addr("192.0.2.2:53"),
            addr("[2001:db8::1]:53"),
            addr("192.0.2.6:53"),
        ]
    );
    assert!(parse_resolv_conf("").is_empty());
}

#[test]
fn durations_and_sizes() {
    let c = parse(&format!(
        "[dns]\nupstream_timeout = \"1500ms\"\ntcp_idle_timeout = \"1m 30s\"\n[cache]\nmax_memory = \"512KiB\"\n{}",
        list_section()
    ))
    .unwrap();
    assert_eq!(c.dns.upstream_timeout, Duration::from_millis(1500));
    assert_eq!(c.dns.tcp_idle_timeout, Duration::from_secs(90));
    assert_eq!(c.cache.max_memory, 512 << 10);
    for (text, bytes) in [
        ("4096", 4096),
        ("\"64MiB\"", 64 << 20),
        ("\"1GiB\"", 1 << 30),
        ("\"100MB\"", 100_000_000),
        ("\"10 kb\"", 10_000),
        ("\"7B\"", 7),
        ("\"123\"", 123),
    ] {
        let c = parse(&format!("[cache]\nmax_memory = {text}\n{}", list_section())).unwrap();
        assert_eq!(c.cache.max_memory, bytes, "{text}");
    }
    for text in [
        "\"1.5GiB\"",
        "\"64 MiBs\"",
        "\"-1\"",
        "\"\"",
        "\"99999999999TiB\"",
        "-5",
    ] {
        assert!(
            parse(&format!("[cache]\nmax_memory = {text}\n{}", list_section())).is_err(),
            "{text}"
        );
    }
    let c = parse(&format!(
        "[cache]\nmax_entries = 1_000_000\nmax_memory = 0x10000\nmax_ttl = +600\n{}",
        list_section()
    ))
    .unwrap();
    assert_eq!(
        (c.cache.max_entries, c.cache.max_memory, c.cache.max_ttl),
        (1_000_000, 0x10000, 600)
    );
    assert_eq!(
        errors(&format!("[cache]\nmax_memory = 0\n{}", list_section())),
        [
            "t.toml:2: cache.max_memory: must be greater than 0; to disable the cache set cache.max_entries = 0"
        ]
    );
    assert_eq!(
        errors(&format!(
            "[dns]\nupstream_timeout = \"1m\"\ntcp_idle_timeout = 10\n{}",
            list_section()
        )),
        [
            "t.toml:2: dns.upstream_timeout: must be between 10ms and 30s, found \"1m\"",
            "t.toml:3: dns.tcp_idle_timeout: expected a duration string like \"2s\" or \"1500ms\", found integer 10",
        ]
    );
}

#[test]
fn list_section_requirements() {
    // Missing section: no line to point at.
    assert_eq!(
        errors(""),
        [
            "t.toml: list.file: required unless list.url is set: set it to the signed list artifact (.ward file) to enforce",
            "t.toml: list.trusted_keys: required: list the .pub file(s) of the key(s) the list is signed with",
        ]
    );
    // Present section: its header line.
    assert_eq!(
        errors("[dns]\n\n[list]\ntrusted_keys = []\n"),
        [
            "t.toml:3: list.file: required unless list.url is set: set it to the signed list artifact (.ward file) to enforce",
            "t.toml:4: list.trusted_keys: empty: no list could be verified; list the .pub file(s) of the key(s) the list is signed with",
        ]
    );
    // Each key file is read and parsed; the key error names the file.
    let dir = tempfile::tempdir().unwrap();
    let secret = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo.key");
    let missing = dir.path().join("missing.pub");
    let text = format!(
        "[list]\nfile = \"x.ward\"\ntrusted_keys = [\n  {DEMO_PUB:?},\n  {missing:?},\n  {secret:?},\n  \"\",\n]\n"
    );
    let e = errors(&text);
    assert_eq!(e.len(), 3, "{e:#?}");
    assert!(
        e[0].starts_with(&format!(
            "t.toml:5: list.trusted_keys[1]: cannot read key file {}: ",
            missing.display()
        )),
        "{e:#?}"
    );
    assert_eq!(
        e[1],
        format!(
            "t.toml:6: list.trusted_keys[2]: {secret}: this is a secret (signing) key; pass the matching .pub file, never the secret"
        )
    );
    assert_eq!(e[2], "t.toml:7: list.trusted_keys[3]: empty path");
}

#[test]
fn list_url_and_updater_keys() {
    // With a URL, the file is optional (a seed) and the updater keys apply.
    let text = format!(
        "[list]\nurl = \"https://lists.example.gov.vn/national.ward\"\ntrusted_keys = [{DEMO_PUB:?}]\npoll_interval = \"2m\"\ntimeout = \"30s\"\nmax_size = \"256MiB\"\n"
    );
    let c = parse(&text).unwrap();
    assert_eq!(
        c.list.url.as_ref().map(reqwest::Url::as_str),
        Some("https://lists.example.gov.vn/national.ward")
    );
    assert_eq!(c.list.file, None);
    assert_eq!(c.list.poll_interval, Duration::from_secs(120));
    assert_eq!(c.list.timeout, Duration::from_secs(30));
    assert_eq!(c.list.max_size, 256 << 20);
    assert_eq!(parse(&c.to_toml()).unwrap(), c);

    // Every problem at once: a downgrade, bounds, a bad CA file.
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("ca.pem");
    std::fs::write(&not_pem, "hello\n").unwrap();
    let text = format!(
        "[list]\nurl = \"http://lists.example.gov.vn/national.ward\"\ntrusted_keys = [{DEMO_PUB:?}]\npoll_interval = \"10ms\"\nmax_size = 10\nca_file = {not_pem:?}\n"
    );
    let e = errors(&text);
    assert_eq!(e.len(), 4, "{e:#?}");
    assert_eq!(
        e[0],
        "t.toml:2: list.url: \"http://lists.example.gov.vn/national.ward\" is plain http; the list must be fetched over https (no downgrade)"
    );
    assert!(
        e[1].starts_with("t.toml:4: list.poll_interval: must be between 1s and 1day"),
        "{e:#?}"
    );
    assert_eq!(
        e[2],
        "t.toml:5: list.max_size: 10 bytes is too small for any list; the minimum is 4096"
    );
    assert!(
        e[3].starts_with(&format!(
            "t.toml:6: list.ca_file: {}: no \"BEGIN CERTIFICATE\"",
            not_pem.display()
        )),
        "{e:#?}"
    );
    assert_eq!(
        errors(&format!("{}url = \"ftp://x/y\"\n", list_section())),
        ["t.toml:4: list.url: unsupported scheme \"ftp\" in \"ftp://x/y\"; write an https:// URL"]
    );

    // Updater keys without a URL would silently do nothing: an error.
    assert_eq!(
        errors(&format!("{}poll_interval = \"1m\"\n", list_section())),
        ["t.toml:4: list.poll_interval: only used with list.url; set list.url or remove this key"]
    );
}

#[test]
fn process_user_and_group_must_exist() {
    let c = parse(&format!("{}[process]\nuser = \"root\"\n", list_section())).unwrap();
    assert_eq!(c.process.user.as_deref(), Some("root"));
    assert_eq!(c.process.group, None);
    let e = errors(&format!(
        "{}[process]\nuser = \"no-such-user-ward\"\ngroup = \"no-such-group-ward\"\n",
        list_section()
    ));
    assert_eq!(
        e,
        [
            "t.toml:5: process.user: no such user \"no-such-user-ward\"; create it (the Debian package creates \"ward\") or name an existing one",
            "t.toml:6: process.group: no such group \"no-such-group-ward\"",
        ]
    );
    assert_eq!(
        errors(&format!("{}[process]\ngroup = \"root\"\n", list_section())),
        ["t.toml:5: process.group: only used with process.user; set the user too"]
    );
}

#[test]
fn admin_and_log() {
    for off in ["off", ""] {
        let c = parse(&format!("[admin]\nlisten = {off:?}\n{}", list_section())).unwrap();
        assert_eq!(c.admin.listen, None);
    }
    let c = parse(&format!(
        "[admin]\nlisten = \"[::1]:9000\"\n[log]\nlevel = \"debug\"\nformat = \"json\"\nquery_log = true\n{}",
        list_section()
    ))
    .unwrap();
    assert_eq!(c.admin.listen, Some(addr("[::1]:9000")));
    assert_eq!(
        c.log,
        LogSettings {
            level: "debug".into(),
            format: LogFormat::Json,
            query_log: true
        }
    );
    assert_eq!(
        errors(&format!(
            "[admin]\nlisten = \"on\"\n[log]\nquery_log = \"yes\"\n{}",
            list_section()
        )),
        [
            "t.toml:2: admin.listen: invalid address \"on\"; write IP:PORT, e.g. \"127.0.0.1:5353\" or \"[::1]:5353\", or \"off\"",
            "t.toml:4: log.query_log: expected true or false, found string \"yes\"",
        ]
    );
}

#[test]
fn load_reports_unreadable_files() {
    let dir = tempfile::tempdir().unwrap();
    let e = Config::load(dir.path()).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: is a directory, not a config file",
            dir.path().display()
        )
    );
    let missing = dir.path().join("nope.toml");
    let e = Config::load(&missing).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("{}: cannot read config file: ", missing.display())),
        "{e}"
    );
    let binary = dir.path().join("bin.toml");
    std::fs::write(&binary, b"[dns]\n\xff\n").unwrap();
    let e = Config::load(&binary).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: not UTF-8 text (invalid byte at offset 6)",
            binary.display()
        )
    );
    assert_eq!(e.0[0].line, None);
}

#[test]
fn embedded_is_the_demo() {
    let c = Config::embedded();
    assert!(c.list.demo);
    assert_eq!(c.list.file, None);
    assert!(c.list.trusted_keys.is_empty());
    assert_eq!(c.list.state_dir, std::env::temp_dir().join(DEMO_STATE_DIR));
    assert_eq!(c.dns.listen, DEFAULT_LISTEN);
    assert!(!c.dns.upstreams.contains(&DEFAULT_LISTEN[0]));
    assert_eq!(c.block, BlockAnswer::default());
    assert!(c.to_toml().contains("# the embedded demo list"));
}

#[test]
fn defaults_are_consistent() {
    assert!((MIN_UPSTREAM_TIMEOUT..=MAX_UPSTREAM_TIMEOUT).contains(&DEFAULT_UPSTREAM_TIMEOUT));
    assert!((MIN_TCP_IDLE_TIMEOUT..=MAX_TCP_IDLE_TIMEOUT).contains(&DEFAULT_TCP_IDLE_TIMEOUT));
    assert!((MIN_EDNS_PAYLOAD..=MAX_EDNS_PAYLOAD).contains(&DEFAULT_EDNS_PAYLOAD));
    assert!((1..=MAX_UPSTREAM_ATTEMPTS).contains(&DEFAULT_UPSTREAM_ATTEMPTS));
    assert!((1..=MAX_BLOCK_TTL).contains(&DEFAULT_BLOCK_TTL));
    assert!(LOG_LEVELS.contains(&DEFAULT_LOG_LEVEL));
    for a in BlockMode::CHOICES {
        assert_eq!(a.0, a.1.as_str());
    }
    for f in LogFormat::CHOICES {
        assert_eq!(f.0, f.1.as_str());
    }
}

#[test]
fn every_prefix_of_the_example_is_handled() {
    // Truncated files (a partial write, a bad copy) never panic, and every
    // error line is within the text.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/ward.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let lines = text.lines().count();
    for (end, _) in text.char_indices() {
        let prefix = &text[..end];
        if let Err(e) = parse(prefix) {
            for error in e.0 {
                let line = error.line.unwrap_or(1);
                assert!((1..=lines.max(1)).contains(&line), "{end}: {error}");
                assert!(!error.message.is_empty());
            }
        }
    }
}

#[test]
fn web_sections() {
    let parse = |extra: &str| {
        Config::parse_with(&format!("{}\n{extra}", list_section()), "web.toml", || {
            Some("nameserver 192.0.2.53\n".into())
        })
    };
    let c = parse("[sni]\nlisten = [\"0.0.0.0:8443\"]\n[http]\nlisten = [\"0.0.0.0:8080\"]\nmode = \"tproxy\"\nmark = 0x10\n[blockpage]\nlisten = [\"127.0.0.1:8081\"]\n").unwrap();
    let sni = c.sni.unwrap();
    assert_eq!(sni.mode, InterceptMode::Redirect);
    assert_eq!(sni.max_read, 128 << 10);
    assert_eq!(sni.mark, 0x5744);
    assert_eq!(sni.on_unparsable, OnUnparsable::Allow);
    let http = c.http.unwrap();
    assert_eq!(
        (http.mode, http.mark, http.max_read),
        (InterceptMode::Tproxy, 0x10, 32 << 10)
    );
    assert_eq!(c.blockpage.unwrap().hotline, "111");
    assert!(parse("").unwrap().sni.is_none());

    let errors = parse(
        "[sni]\nmode = \"nat\"\nmax_hello_size = 100\non_unparsable = \"maybe\"\nmax_head_size = 1\n[http]\nlisten = []\n[blockpage]\nlisten = [\"127.0.0.1:80\"]\nappeal_url = \"ftp://x\"\n[process]\nuser = \"root\"\n",
    )
    .unwrap_err()
    .to_string();
    for needle in [
        "web.toml: sni.listen: required",
        "web.toml:6: sni.mode: expected one of \"redirect\", \"tproxy\"",
        "web.toml:7: sni.max_hello_size: must be between 512 bytes and 1MiB",
        "web.toml:8: sni.on_unparsable: expected one of \"allow\", \"block\"",
        "web.toml:9: sni.max_head_size: unknown key `sni.max_head_size`; did you mean `sni.max_hello_size`?",
        "web.toml:11: http.listen: must not be empty",
        "web.toml:14: blockpage.appeal_url: must be an http://, https:// or mailto: URL",
        "web.toml:16: process.user: cannot be combined with [sni]/[http]",
    ] {
        assert!(errors.contains(needle), "missing {needle:?} in:\n{errors}");
    }
}

#[test]
fn blockpage_template_errors_name_the_template_line() {
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("page.html");
    std::fs::write(
        &template,
        "<html>\n<p>{{hotline}}</p>\n<p>{{nonsense}}</p>\n",
    )
    .unwrap();
    let text = format!(
        "{}[blockpage]\nlisten = [\"127.0.0.1:80\"]\ntemplate = {:?}\n",
        list_section(),
        template.display().to_string()
    );
    let errors = Config::parse_with(&text, "t.toml", || Some("nameserver 192.0.2.53\n".into()))
        .unwrap_err()
        .to_string();
    let expected = format!("t.toml:6: blockpage.template: {}:3:", template.display());
    assert!(errors.contains(&expected), "{errors}");
}

#[test]
fn limits_are_off_by_default_and_checked_when_set() {
    let c = parse(&list_section()).unwrap();
    assert!(!c.limits.enabled());
    assert_eq!(
        (c.limits.client_prefix_v4, c.limits.client_prefix_v6),
        (24, 56)
    );
    assert_eq!(c.limits.slip, 2);

    let text = format!(
        "{}[limits]\nclient_qps = 200\nrrl = 5\nexempt = [\"100.64.0.0/10\", \"192.0.2.7\"]\n",
        list_section()
    );
    let c = parse(&text).unwrap();
    assert!(c.limits.enabled());
    assert_eq!((c.limits.client_qps, c.limits.rrl), (200, 5));
    assert_eq!(c.limits.exempt.len(), 2);

    let text = format!(
        "{}[limits]\nclient_qps = -1\nclient_prefix_v4 = 33\nclient_prefix_v6 = 8\nslip = 11\nexempt = [\"nat\"]\nrate = 5\n",
        list_section()
    );
    let e = errors(&text);
    assert_eq!(e.len(), 6, "{e:#?}");
    assert!(e[0].ends_with("limits.client_qps: must be between 0 and 1000000, found -1"));
    assert!(e[1].ends_with("limits.client_prefix_v4: must be between 8 and 32, found 33"));
    assert!(e[2].ends_with("limits.client_prefix_v6: must be between 16 and 128, found 8"));
    assert!(e[3].ends_with("limits.slip: must be between 0 and 10, found 11"));
    assert!(e[4].contains("limits.exempt[0]: invalid network \"nat\""));
    assert!(e[5].contains("unknown key `limits.rate`"), "{}", e[5]);
}
