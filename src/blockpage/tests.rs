//! Tests of the 451 response against a real signed list.

use ed25519_dalek::SigningKey;

use super::*;
use crate::blockpage::head::parse_head;
use crate::list::build::build_from_str;
use crate::list::{BuildOptions, Bytes, ListArtifact, TrustedKeys, Verified};
use crate::metrics::Metrics;
use crate::store::ListStore;

const SOURCE: &str = "\
blocked.example.test     adult
*.casino.example.test    gambling
xn--bcher-kva.example.test violence
odd.example.test         lottery-x
canary.example.test      canary
secret.example.test      csam
=only.hidden.example.test csam
";

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn list() -> Verified<ListArtifact> {
    let key = SigningKey::from_bytes(&[9; 32]);
    let opts = BuildOptions {
        list_id: "vn-830".into(),
        serial: 2026031,
        issued_at: ts("2026-03-01T18:30:00Z"),
        expires_at: ts("2126-01-01T00:00:00Z"),
        confidential: ["csam".to_owned()].into_iter().collect(),
        min_age: Default::default(),
    };
    let (bytes, _) = build_from_str(SOURCE, &opts, &key).unwrap();
    let trust: TrustedKeys = [key.verifying_key()].into_iter().collect();
    crate::list::verify(Bytes::Owned(bytes), &trust).unwrap()
}

fn settings() -> PageSettings {
    PageSettings {
        template: None,
        appeal_url: "https://isp.example/appeal?from=block&x=1".into(),
        blocked_by: "https://isp.example/blocking".into(),
        hotline: "111".into(),
    }
}

/// A response split into status line, headers and body.
struct Response {
    status: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn parse(bytes: &[u8]) -> Self {
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().to_owned();
        let headers = lines
            .map(|l| {
                let (n, v) = l.split_once(": ").unwrap();
                (n.to_ascii_lowercase(), v.to_owned())
            })
            .collect();
        Self {
            status,
            headers,
            body: body.to_owned(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn request(host: &str, accept_language: Option<&str>, method: &str) -> RequestHead {
    let mut text = format!("{method} / HTTP/1.1\r\nHost: {host}\r\n");
    if let Some(al) = accept_language {
        text.push_str(&format!("Accept-Language: {al}\r\n"));
    }
    text.push_str("\r\n");
    parse_head(text.as_bytes()).unwrap().unwrap()
}

struct Fixture {
    page: BlockPage,
    store: ListStore,
    metrics: Metrics,
}

impl Fixture {
    fn new() -> Self {
        Self {
            page: BlockPage::new(&settings()).unwrap(),
            store: ListStore::with(list()),
            metrics: Metrics::new(),
        }
    }

    fn get(&self, host: &str, accept_language: Option<&str>) -> Response {
        self.send(&request(host, accept_language, "GET"))
    }

    fn send(&self, head: &RequestHead) -> Response {
        let list = self.store.load();
        Response::parse(&self.page.respond_at(
            head,
            list.as_deref(),
            None,
            self.metrics.page_views(),
            ts("2026-03-04T20:00:00Z"),
        ))
    }

    fn views(&self, category: &str) -> Option<String> {
        let series = format!("ward_blockpage_views_total{{category=\"{category}\"}} ");
        self.metrics
            .encode()
            .lines()
            .find_map(|l| l.strip_prefix(&series).map(str::to_owned))
    }
}

#[test]
fn listed_host_gets_a_451_with_all_headers() {
    let f = Fixture::new();
    let r = f.get("Blocked.Example.Test:80", None);
    assert_eq!(r.status, "HTTP/1.1 451 Unavailable For Legal Reasons");
    for (name, want) in [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Cache-Control", "no-store"),
        ("Connection", "close"),
        ("Content-Language", "vi, en"),
        ("Vary", "Accept-Language"),
        ("Link", "<https://isp.example/blocking>; rel=\"blocked-by\""),
        (
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
        ),
        ("Referrer-Policy", "no-referrer"),
        ("X-Content-Type-Options", "nosniff"),
        ("Date", "Wed, 04 Mar 2026 20:00:00 GMT"),
    ] {
        assert_eq!(r.header(name), Some(want), "{name}");
    }
    assert_eq!(
        r.header("Content-Length"),
        Some(r.body.len().to_string().as_str())
    );
    let b = &r.body;
    assert!(b.starts_with("<!doctype html>\n<html lang=\"vi\">"), "{b}");
    assert!(!b.to_ascii_lowercase().contains("<script"), "{b}");
    assert!(!b.contains("{{"), "{b}");
    assert!(
        b.contains("<p class=\"site\">blocked.example.test</p>"),
        "{b}"
    );
    let vi = b.find("chỉ dành cho người lớn").unwrap();
    let en = b.find("meant only for adults").unwrap();
    assert!(vi < en, "Vietnamese comes first");
    assert!(b.contains("Tổng đài quốc gia bảo vệ trẻ em 111"), "{b}");
    assert!(b.contains("href=\"tel:111\""), "{b}");
    assert!(
        b.contains("href=\"https://isp.example/appeal?from=block&amp;x=1\""),
        "{b}"
    );
    // List id, serial, the list's issue date and today, in Vietnam's time
    // zone (20:00 UTC is already the next day there).
    assert!(b.contains("<dd>vn-830</dd>"), "{b}");
    assert!(b.contains("<dd>2026031</dd>"), "{b}");
    assert!(b.contains("<dd>2026-03-02</dd>"), "{b}");
    assert!(b.contains("<dd>2026-03-05</dd>"), "{b}");
    assert_eq!(f.views("adult").as_deref(), Some("1"));
}

#[test]
fn english_first_when_preferred() {
    let f = Fixture::new();
    let r = f.get("x.casino.example.test", Some("en-US,en;q=0.9,vi;q=0.5"));
    assert_eq!(r.header("Content-Language"), Some("en, vi"));
    assert!(r.body.contains("<html lang=\"en\">"));
    let en = r.body.find("<section lang=\"en\">").unwrap();
    let vi = r.body.find("<section lang=\"vi\">").unwrap();
    assert!(en < vi);
    assert!(r.body.contains("gambling or betting"));
    assert!(r.body.contains("cờ bạc"));
    assert_eq!(f.views("gambling").as_deref(), Some("1"));
}

#[test]
fn head_gets_the_headers_only() {
    let f = Fixture::new();
    let get = f.get("blocked.example.test", None);
    let head = f.send(&request("blocked.example.test", None, "HEAD"));
    assert_eq!(head.status, get.status);
    assert!(head.body.is_empty());
    assert_eq!(head.header("Content-Length"), get.header("Content-Length"));
    assert_eq!(f.views("adult").as_deref(), Some("2"));
}

#[test]
fn confidential_block_never_names_the_site_or_category() {
    let f = Fixture::new();
    for host in [
        "secret.example.test",
        "www.secret.example.test",
        "only.hidden.example.test",
    ] {
        for al in [None, Some("en")] {
            let r = f.get(host, al);
            assert_eq!(r.status, "HTTP/1.1 451 Unavailable For Legal Reasons");
            let lower = r.body.to_ascii_lowercase();
            assert!(!lower.contains("secret"), "{host}: {}", r.body);
            assert!(!lower.contains("hidden.example"), "{host}: {}", r.body);
            assert!(!lower.contains("csam"), "{host}: {}", r.body);
            assert!(!r.body.contains("class=\"site\""), "{host}");
            assert!(
                r.body.contains("Trang này không an toàn cho trẻ em."),
                "{}",
                r.body
            );
            assert!(
                r.body.contains("This site is not safe for children."),
                "{}",
                r.body
            );
            assert!(r.body.contains("111"));
        }
    }
    // The metrics label is the category (public in the manifest), never
    // the host.
    assert_eq!(f.views("csam").as_deref(), Some("6"));
    assert!(!f.metrics.encode().contains("secret"));
}

#[test]
fn unlisted_host_and_bare_address_get_the_generic_page() {
    let f = Fixture::new();
    for host in ["allowed.example.test", "192.0.2.1", "[2001:db8::1]:80", ""] {
        let r = f.get(host, None);
        assert_eq!(r.status, "HTTP/1.1 451 Unavailable For Legal Reasons");
        assert!(!r.body.contains("class=\"site\""), "{host}");
        assert!(r.body.contains("hiển thị thông báo"), "{host}");
        assert!(r.body.contains("shows notices"), "{host}");
        assert!(r.body.contains("<dd>vn-830</dd>"));
    }
    assert_eq!(f.views("unlisted").as_deref(), Some("4"));
}

#[test]
fn no_list_in_force_gets_the_generic_page() {
    let f = Fixture::new();
    let r = Response::parse(&f.page.respond_at(
        &request("blocked.example.test", None, "GET"),
        None,
        None,
        f.metrics.page_views(),
        ts("2026-03-04T01:00:00Z"),
    ));
    assert_eq!(r.status, "HTTP/1.1 451 Unavailable For Legal Reasons");
    assert!(!r.body.contains("blocked.example.test"));
    assert!(!r.body.contains("Danh sách · List"));
    assert!(r.body.contains("<dd>2026-03-04</dd>"));
    assert_eq!(f.views("unlisted").as_deref(), Some("1"));
}

#[test]
fn category_without_wording_falls_back_to_other() {
    let f = Fixture::new();
    let r = f.get("odd.example.test", None);
    assert!(r.body.contains("không phù hợp với trẻ em"), "{}", r.body);
    assert!(r.body.contains("not suitable for children"));
    assert!(r.body.contains("<p class=\"site\">odd.example.test</p>"));
    assert_eq!(f.views("lottery-x").as_deref(), Some("1"));
    let r = f.get("canary.example.test", None);
    assert!(r.body.contains("test address used to check"));
}

#[test]
fn idn_hosts_are_shown_in_unicode() {
    let f = Fixture::new();
    let r = f.get("xn--bcher-kva.example.test", None);
    assert!(
        r.body.contains("<p class=\"site\">bücher.example.test</p>"),
        "{}",
        r.body
    );
    assert!(r.body.contains("bạo lực"));
}

/// A host in Unicode (an absolute-URI target or Host that a lenient
/// client sent as UTF-8) is looked up by its A-labels, as on the DNS and
/// SNI paths; the page once looked the raw text up and called it unlisted.
#[test]
fn a_unicode_host_gets_the_same_verdict_as_its_a_labels() {
    let f = Fixture::new();
    let list = f.store.load();
    for host in [
        "BÜCHER.example.test",
        "bücher.example.test",
        "xn--bcher-kva.example.test",
    ] {
        let d = decide(Some(host), list.as_deref());
        assert_eq!(d.reason, Reason::Category("violence"), "{host}");
        assert_eq!(
            d.shown.map(|s| s.host).as_deref(),
            Some("bücher.example.test"),
            "{host}"
        );
    }
    let d = decide(Some("192.0.2.1"), list.as_deref());
    assert_eq!(d.label, UNLISTED_LABEL);
}

#[test]
fn embedded_default_has_no_link_or_appeal() {
    let page = BlockPage::embedded_default();
    let metrics = Metrics::new();
    let r = Response::parse(&page.respond(
        &request("a.example", None, "GET"),
        None,
        metrics.page_views(),
    ));
    assert_eq!(r.header("Link"), None);
    assert!(!r.body.contains("class=\"appeal\""));
    assert!(r.body.contains("href=\"tel:111\""));
}

#[test]
fn hotline_is_configurable() {
    let page = BlockPage::new(&PageSettings {
        hotline: "+84 (24) 111".into(),
        ..settings()
    })
    .unwrap();
    let r = Response::parse(&page.respond(
        &request("a.example", None, "GET"),
        None,
        Metrics::new().page_views(),
    ));
    assert!(r.body.contains("href=\"tel:+8424111\""), "{}", r.body);
    assert!(r.body.contains(">+84 (24) 111</a>"), "{}", r.body);
}

#[test]
fn bad_settings_are_refused() {
    let cases = [
        (
            PageSettings {
                hotline: String::new(),
                ..settings()
            },
            "hotline",
        ),
        (
            PageSettings {
                hotline: "call us".into(),
                ..settings()
            },
            "hotline",
        ),
        (
            PageSettings {
                appeal_url: "javascript:alert(1)".into(),
                ..settings()
            },
            "appeal_url",
        ),
        (
            PageSettings {
                appeal_url: "https://a.example/ x".into(),
                ..settings()
            },
            "appeal_url",
        ),
        (
            PageSettings {
                appeal_url: "https://".into(),
                ..settings()
            },
            "appeal_url",
        ),
        (
            PageSettings {
                blocked_by: "isp.example".into(),
                ..settings()
            },
            "blocked_by",
        ),
        (
            PageSettings {
                blocked_by: "https://isp.example/>, <x".into(),
                ..settings()
            },
            "blocked_by",
        ),
        (
            PageSettings {
                blocked_by: "https://isp.example/\r\nSet-Cookie: a".into(),
                ..settings()
            },
            "blocked_by",
        ),
    ];
    for (s, want) in cases {
        match BlockPage::new(&s) {
            Err(PageError::Setting { key, .. }) => assert_eq!(key, want, "{s:?}"),
            other => panic!("{s:?}: {other:?}"),
        }
    }
    let ok = PageSettings {
        appeal_url: "mailto:appeal@isp.example".into(),
        ..settings()
    };
    BlockPage::new(&ok).unwrap();
}

#[test]
fn template_file_override_and_errors_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("page.html");
    let custom = template::EMBEDDED.replace(
        "Trang này có nội dung chỉ dành cho người lớn, không phù hợp với trẻ em.",
        "Nội dung người lớn (tùy chỉnh).",
    );
    std::fs::write(&path, &custom).unwrap();
    let page = BlockPage::new(&PageSettings {
        template: Some(path.clone()),
        ..settings()
    })
    .unwrap();
    let list = ListStore::with(list());
    let out = page.respond(
        &request("blocked.example.test", None, "GET"),
        list.load().as_deref(),
        Metrics::new().page_views(),
    );
    assert!(
        String::from_utf8(out)
            .unwrap()
            .contains("Nội dung người lớn (tùy chỉnh).")
    );

    std::fs::write(&path, "<p>\n{{hostname}}\n").unwrap();
    let err = BlockPage::new(&PageSettings {
        template: Some(path.clone()),
        ..settings()
    })
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "{}:2: unknown placeholder `{{{{hostname}}}}`",
            path.display()
        )),
        "{msg}"
    );

    std::fs::write(&path, "<p>\n\n  {{host\n").unwrap();
    let msg = BlockPage::new(&PageSettings {
        template: Some(path.clone()),
        ..settings()
    })
    .unwrap_err()
    .to_string();
    assert!(msg.starts_with(&format!("{}:3: ", path.display())), "{msg}");

    std::fs::write(&path, "{{first}}{{second}}").unwrap();
    let msg = BlockPage::new(&PageSettings {
        template: Some(path.clone()),
        ..settings()
    })
    .unwrap_err()
    .to_string();
    assert!(msg.contains("section vi"), "{msg}");

    let missing = dir.path().join("absent.html");
    let err = BlockPage::new(&PageSettings {
        template: Some(missing),
        ..settings()
    })
    .unwrap_err();
    assert!(matches!(err, PageError::Read { .. }), "{err}");
}

#[test]
fn plain_responses_have_the_right_length() {
    let r = Response::parse(&plain_response("400 Bad Request", "Bad Request\n"));
    assert_eq!(r.status, "HTTP/1.1 400 Bad Request");
    assert_eq!(r.header("Content-Length"), Some("12"));
    assert_eq!(r.body, "Bad Request\n");
    assert_eq!(r.header("Connection"), Some("close"));
}

#[test]
fn decide_fails_closed_on_unknown_category_ids() {
    let list = ListStore::with(list());
    let snapshot = list.load();
    let active = snapshot.as_deref();
    let d = decide(Some("blocked.example.test"), active);
    assert_eq!(d.label, "adult");
    let d = decide(Some("nope.example.test"), active);
    assert_eq!((d.reason, d.label), (Reason::Unlisted, UNLISTED_LABEL));
    let d = decide(None, active);
    assert_eq!(d.label, UNLISTED_LABEL);
    let d = decide(Some("blocked.example.test"), None);
    assert_eq!(d.label, UNLISTED_LABEL);
}

mod readers {
    //! The page for a reader whose address selects a school profile.

    use super::*;
    use crate::profiles::{ExtraList, ProfileSettings, Profiles, SchoolContact};

    /// A school's list: social rated 13+, games unrated, a confidential
    /// category of its own.
    fn school_list() -> crate::store::Snapshot {
        let key = SigningKey::from_bytes(&[3; 32]);
        let opts = BuildOptions {
            list_id: "school".into(),
            serial: 7,
            issued_at: ts("2026-03-01T00:00:00Z"),
            expires_at: ts("2126-01-01T00:00:00Z"),
            confidential: ["grooming".to_owned()].into_iter().collect(),
            min_age: [("social".to_owned(), 13)].into_iter().collect(),
        };
        let source =
            "social.example.test social\ngames.example.test games\ngroom.example.test grooming\n";
        let (bytes, _) = build_from_str(source, &opts, &key).unwrap();
        let trust: TrustedKeys = [key.verifying_key()].into_iter().collect();
        let list = crate::list::verify(Bytes::Owned(bytes), &trust).unwrap();
        ListStore::with(list).load_full().unwrap()
    }

    fn profiles() -> Profiles {
        let p = |name: &str, net: &str, age, school: SchoolContact| ProfileSettings {
            name: name.into(),
            clients: vec![net.parse().unwrap()],
            age,
            lists: vec!["school".into()],
            block_categories: Vec::new(),
            allow: None,
            mode: crate::profiles::Mode::Deny,
            schedule: Vec::new(),
            bypass: Default::default(),
            school,
            safe_search: Default::default(),
            listen: Vec::new(),
            client_ids: Vec::new(),
        };
        let kim_dong = SchoolContact {
            name: Some("Trường Tiểu học <Kim Đồng>".into()),
            contact: Some("024 3825 1234".into()),
        };
        let settings = [
            p("primary", "127.0.0.2/32", 10, kim_dong),
            p("secondary", "127.0.0.3/32", 15, SchoolContact::default()),
        ];
        let lists = vec![ExtraList {
            name: "school".into(),
            list: Some(school_list()),
        }];
        Profiles::build(&settings, lists).unwrap()
    }

    fn page_for(f: &Fixture, profiles: &Profiles, client: &str, host: &str) -> Response {
        let list = f.store.load();
        let reader = profiles.reader(client.parse().unwrap());
        Response::parse(&f.page.respond_at(
            &request(host, None, "GET"),
            list.as_deref(),
            reader,
            f.metrics.page_views(),
            ts("2026-03-04T20:00:00Z"),
        ))
    }

    const TODAY_VI: &str = "Bạn không gặp rắc rối gì cả.";
    const TODAY_EN: &str = "You are not in trouble.";

    #[test]
    fn the_profile_s_age_picks_child_or_teen_wording_in_both_languages() {
        let f = Fixture::new();
        let profiles = profiles();
        let child = page_for(&f, &profiles, "127.0.0.2", "blocked.example.test");
        assert_eq!(child.status, "HTTP/1.1 451 Unavailable For Legal Reasons");
        assert!(
            child.body.contains("Trang này không dành cho các bạn nhỏ"),
            "{}",
            child.body
        );
        assert!(child.body.contains("This page is not for children"));
        assert!(!child.body.contains(TODAY_VI) && !child.body.contains(TODAY_EN));
        // The school, next to the hotline, escaped like every value.
        assert!(
            child.body.contains("Trường Tiểu học &lt;Kim Đồng&gt;"),
            "{}",
            child.body
        );
        assert!(child.body.contains("Liên hệ nhà trường: 024 3825 1234"));
        assert!(child.body.contains("School contact: 024 3825 1234"));
        assert!(child.body.contains("tel:111"));

        let teen = page_for(&f, &profiles, "127.0.0.3", "blocked.example.test");
        assert!(
            teen.body
                .contains("theo danh sách quốc gia về bảo vệ trẻ em"),
            "{}",
            teen.body
        );
        assert!(
            teen.body
                .contains("by Vietnam’s national child-protection list")
        );
        assert!(!teen.body.contains("các bạn nhỏ") && !teen.body.contains(TODAY_EN));
        // No school details configured: none shown.
        assert!(!teen.body.contains("class=\"school\""));
        // The national block still names the site and its category.
        assert!(teen.body.contains("blocked.example.test"));
    }

    #[test]
    fn a_block_by_the_profile_s_own_list_is_worded_as_the_school_s() {
        let f = Fixture::new();
        let profiles = profiles();
        // social is 13+: blocked for the primary profile...
        let r = page_for(&f, &profiles, "127.0.0.2", "www.social.example.test");
        assert_eq!(r.status, "HTTP/1.1 451 Unavailable For Legal Reasons");
        assert!(r.body.contains("www.social.example.test"));
        assert_eq!(f.views("social").as_deref(), Some("1"));
        // ...and not for the secondary one, nor for a client without a
        // profile: the page they get is today's, saying nothing is listed.
        let r = page_for(&f, &profiles, "127.0.0.3", "www.social.example.test");
        assert!(!r.body.contains("www.social.example.test"));
        assert!(r.body.contains(TODAY_VI), "{}", r.body);
        // games has no rating: the teen reads it is the school's filter.
        let r = page_for(&f, &profiles, "127.0.0.3", "games.example.test");
        assert!(
            r.body.contains("theo cài đặt lọc của nhà trường"),
            "{}",
            r.body
        );
        assert!(
            r.body
                .contains("by your school’s filter for your age group")
        );
    }

    #[test]
    fn confidential_blocks_get_the_neutral_page_with_no_school_detail() {
        let f = Fixture::new();
        let profiles = profiles();
        let anyone = f.get("www.secret.example.test", None);
        for (client, host) in [
            ("127.0.0.2", "www.secret.example.test"),
            ("127.0.0.3", "www.secret.example.test"),
            // A confidential category of the profile's own list.
            ("127.0.0.2", "groom.example.test"),
        ] {
            let r = page_for(&f, &profiles, client, host);
            // Exactly the page a client without a profile gets.
            assert_eq!(r.body, anyone.body, "{client} {host}");
            assert!(!r.body.contains("Kim Đồng") && !r.body.contains("024 3825"));
            assert!(!r.body.contains("groom") && !r.body.contains("grooming"));
        }
    }

    #[test]
    fn clients_without_a_profile_see_today_s_page() {
        let f = Fixture::new();
        let profiles = profiles();
        for host in [
            "blocked.example.test",
            "www.casino.example.test",
            "nope.example.test",
        ] {
            let without = f.get(host, None);
            let outside = page_for(&f, &profiles, "10.9.9.9", host);
            assert_eq!(outside.body, without.body, "{host}");
            assert!(without.body.contains(TODAY_VI) && without.body.contains(TODAY_EN));
            assert!(!without.body.contains("class=\"school\""));
        }
    }
}
