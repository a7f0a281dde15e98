use super::*;

fn p(name: &str, dns: Verdict) -> Probed {
    Probed {
        name: name.into(),
        category: "c".into(),
        dns,
        sni: None,
    }
}
fn blocked(name: &str) -> Probed {
    p(name, Verdict::Blocked("sinkhole".into()))
}
fn open(name: &str) -> Probed {
    p(name, Verdict::NotBlocked("1.2.3.4".into()))
}
fn failed(name: &str) -> Probed {
    p(name, Verdict::Failed("timeout".into()))
}
const R: SocketAddr = SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 53);

#[test]
fn nothing_probed_is_an_error_not_a_self_report() {
    let e = judge(R, 2, Some(2), None, &[]).unwrap_err();
    assert!(e.to_string().contains("nothing was probed"), "{e}");
}

#[test]
fn an_unanswered_canary_is_not_called_unenforced() {
    let names = [blocked("a"), blocked("b"), failed("c")];
    let (reasons, _) = judge(R, 2, Some(2), Some(&failed("s2.canary")), &names).unwrap();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[0].contains("got no answer"), "{reasons:?}");
    assert!(!reasons[0].contains("does not enforce"), "{reasons:?}");
    // An answered, unblocked canary is still a verdict.
    let (reasons, _) = judge(R, 2, Some(2), Some(&open("s2.canary")), &names).unwrap();
    assert!(
        reasons[0].contains("does not enforce serial 2"),
        "{reasons:?}"
    );
}

#[test]
fn failures_that_dominate_are_an_error() {
    let names = [blocked("a"), failed("b"), failed("c")];
    let e = judge(R, 2, Some(2), Some(&failed("s2.canary")), &names).unwrap_err();
    assert!(e.to_string().contains("too few DNS answers"), "{e}");
    let e = judge(R, 2, Some(2), Some(&failed("s2.canary")), &[]).unwrap_err();
    assert!(e.to_string().contains("too few DNS answers"), "{e}");
    let e = judge(R, 2, Some(2), None, &names).unwrap_err();
    assert!(e.to_string().contains("too few DNS answers"), "{e}");
    // A blocked canary is an answer: the failures are reasons.
    let (reasons, _) = judge(R, 2, Some(2), Some(&blocked("s2.canary")), &names).unwrap();
    assert_eq!(reasons, ["2 of 3 sampled names not blocked over DNS"]);
}

#[test]
fn pick_takes_this_serials_canary_and_only_public_names() {
    let issued_at: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let opts = crate::list::BuildOptions {
        list_id: "test".into(),
        serial: 7,
        issued_at,
        expires_at: "2126-01-01T00:00:00Z".parse().unwrap(),
        confidential: ["csam".to_owned()].into(),
        min_age: Default::default(),
    };
    let key = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
    let source = "\
=s6.canary.test canary
=s7.canary.test canary
*.s7.other.test canary
a.example       adult
b.example       adult
secret.example  csam
";
    let (bytes, _) = crate::list::build::build_from_str(source, &opts, &key).unwrap();
    let trust = [key.verifying_key()].into_iter().collect();
    let list = crate::list::verify(crate::list::Bytes::Owned(bytes), &trust).unwrap();

    let picked = pick(&list, 10, &mut Rng(1)).unwrap();
    assert_eq!(picked.canary.as_deref(), Some("s7.canary.test"));
    let mut sample = picked.sample.clone();
    sample.sort();
    assert_eq!(
        sample,
        [
            ("a.example".to_owned(), "adult".to_owned()),
            ("b.example".to_owned(), "adult".to_owned()),
        ]
    );
    // A sample smaller than the public entries stays that small.
    assert_eq!(pick(&list, 1, &mut Rng(1)).unwrap().sample.len(), 1);
    let none = pick(&list, 0, &mut Rng(1)).unwrap();
    assert!(none.sample.is_empty());
    assert_eq!(none.canary.as_deref(), Some("s7.canary.test"));
}
