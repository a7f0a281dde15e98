use super::*;
use crate::list::RuleKind;

/// Reads a whole zone: the rules as `name`/`=name` with their lines, and
/// the errors as `line: message`.
fn read(zone: Option<&str>, text: &[u8]) -> (Vec<(usize, String)>, Vec<String>) {
    let zone = zone.map(|z| DomainName::parse(z).unwrap());
    let mut reader = ZoneReader::new(zone.as_ref());
    let mut out = Vec::new();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        reader.feed(i + 1, line, &mut out);
    }
    reader.finish(&mut out);
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    for e in out {
        match e {
            Event::Rule { line, rule } => rules.push((
                line,
                match rule.kind {
                    RuleKind::Exact => format!("={}", rule.name),
                    RuleKind::Subtree => rule.name.to_string(),
                },
            )),
            Event::Error { line, error } => errors.push(format!("{line}: {error}")),
        }
    }
    (rules, errors)
}

fn rules(zone: Option<&str>, text: &str) -> Vec<String> {
    let (rules, errors) = read(zone, text.as_bytes());
    assert!(errors.is_empty(), "{errors:?}");
    rules.into_iter().map(|(_, r)| r).collect()
}

fn errors(zone: Option<&str>, text: &[u8]) -> Vec<String> {
    read(zone, text).1
}

const HEAD: &str = "$ORIGIN child.rpz.\n$TTL 300\n@ SOA localhost. hostmaster.localhost. 1 3600 600 604800 300\n@ NS localhost.\n";

fn body(text: &str) -> String {
    format!("{HEAD}{text}")
}

#[test]
fn what_ward_s_own_export_writes() {
    let zone = body(
        "list.ward TXT \"list=t\" \"serial=7\" \"sha256=00\"\n\
         a.test CNAME .\n*.a.test CNAME .\n\
         b.test CNAME .\n\
         c.test A 192.0.2.1\nc.test AAAA 2001:db8::1\n*.c.test A 192.0.2.1\n\
         d.test CNAME *.\n",
    );
    assert_eq!(
        rules(None, &zone),
        [
            "=a.test", "a.test", "=b.test", "=c.test", "=c.test", "c.test", "=d.test"
        ]
    );
}

#[test]
fn every_action_that_blocks_is_a_rule() {
    let zone = body(
        "nx.example CNAME .\n\
         nodata.example CNAME *.\n\
         drop.example CNAME rpz-drop.\n\
         garden.example CNAME walled.garden.example.\n\
         wild.example CNAME *.walled.garden.example.\n\
         relative.example CNAME rpz-passthru\n\
         txt.example TXT \"blocked\"\n\
         mx.example MX 10 mail.example.\n",
    );
    assert_eq!(
        rules(None, &zone),
        [
            "=nx.example",
            "=nodata.example",
            "=drop.example",
            "=garden.example",
            "=wild.example",
            // Relative: a CNAME to a name inside the zone, local data.
            "=relative.example",
            "=txt.example",
            "=mx.example",
        ]
    );
}

#[test]
fn master_file_syntax() {
    // No $ORIGIN: the SOA owner is the zone; relative names, `@`, a blank
    // owner, TTL and class in either order, escapes, comments,
    // parentheses, CRLF, upper case.
    let zone = "; comment only\r\n\
                CHILD.RPZ. 3600 IN SOA ns. host. (\r\n\
                \t\t2026 ; serial\r\n\
                \t\t3600 600 604800\r\n\
                \t\t300 )\r\n\
                \tIN NS ns.\r\n\
                Www.Example.COM IN 60 CNAME .   ; class, then TTL\r\n\
                \t1h30m A 192.0.2.1\r\n\
                *.x.example.child.rpz. CNAME . ; absolute\r\n\
                \\097b.example CNAME .\r\n\
                tab.example\tCNAME\t(\r\n\
                  .\r\n\
                )\r\n\
                $ORIGIN sub.child.rpz.\r\n\
                z.example CNAME .\r\n\
                q.example TXT \"a ; not a comment (\" \"\\\"\"\r\n\
                $ORIGIN child.rpz.\r\n\
                @ 300 TXT \"apex, skipped\"\r\n\
                bücher.example CNAME .\r\n";
    let (rules, errors) = read(None, zone.as_bytes());
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        rules,
        [
            (7, "=www.example.com".to_owned()),
            (8, "=www.example.com".to_owned()),
            (9, "x.example".to_owned()),
            (10, "=ab.example".to_owned()),
            // A record across lines belongs to its first.
            (11, "=tab.example".to_owned()),
            (15, "=z.example.sub".to_owned()),
            (16, "=q.example.sub".to_owned()),
            (19, "=xn--bcher-kva.example".to_owned()),
        ]
    );
}

#[test]
fn the_zone_s_name() {
    let rest = "a.example CNAME .\n";
    // --zone, for a file with neither $ORIGIN nor an SOA.
    assert_eq!(rules(Some("child.rpz"), rest), ["=a.example"]);
    // $ORIGIN at the first record.
    assert_eq!(
        rules(None, &format!("$ORIGIN child.rpz.\n{rest}")),
        ["=a.example"]
    );
    // Absolute owners under --zone; the SOA at it is skipped.
    assert_eq!(
        rules(
            Some("child.rpz"),
            "child.rpz. SOA a. b. 1 2 3 4 5\na.example.child.rpz. CNAME .\n"
        ),
        ["=a.example"]
    );
    // None of the three: said once, at the first record.
    assert_eq!(
        errors(
            None,
            b"a.example.child.rpz. CNAME .\nb.example.child.rpz. CNAME .\n"
        ),
        ["1: cannot tell the zone's name: start the file with its SOA record, or give --zone"]
    );
    assert_eq!(
        errors(None, rest.as_bytes()),
        ["1: a relative name (or `@`) but no $ORIGIN: add one, or give --zone"]
    );
    // An SOA that is not the zone given.
    assert_eq!(
        errors(Some("child.rpz"), b"other.rpz. SOA a. b. 1 2 3 4 5\n"),
        ["1: the owner name is outside the zone (check $ORIGIN and --zone)"]
    );
    assert_eq!(
        errors(None, body("x.y SOA a. b. 1 2 3 4 5\n").as_bytes()),
        ["5: an SOA record below the zone's apex"]
    );
}

#[test]
fn unsupported_triggers_and_actions() {
    let zone = body(
        "ok.example CNAME rpz-passthru.\n\
         tcp.example CNAME rpz-tcp-only.\n\
         self.example CNAME self.example.\n\
         32.1.2.0.192.rpz-ip CNAME .\n\
         24.0.2.0.192.rpz-client-ip CNAME rpz-drop.\n\
         ns.bad.example.rpz-nsdname CNAME .\n\
         *.bad.example.rpz-nsdname CNAME .\n\
         32.1.2.0.192.rpz-nsip CNAME .\n\
         fine.example CNAME .\n",
    );
    let (rules, errors) = read(None, zone.as_bytes());
    assert_eq!(rules, [(13, "=fine.example".to_owned())]);
    let want = [
        "5: unsupported: `CNAME rpz-passthru.` is an allow rule",
        "6: unsupported: `CNAME rpz-tcp-only.`",
        "7: unsupported: a CNAME to the trigger name itself",
        "8: unsupported: an IP trigger (`rpz-ip`)",
        "9: unsupported: a client-IP trigger (`rpz-client-ip`)",
        "10: unsupported: an NSDNAME trigger (`rpz-nsdname`)",
        "11: unsupported: an NSDNAME trigger (`rpz-nsdname`)",
        "12: unsupported: an NSIP trigger (`rpz-nsip`)",
    ];
    assert_eq!(errors.len(), want.len(), "{errors:?}");
    for (got, want) in errors.iter().zip(want) {
        assert!(got.starts_with(want), "{got} / {want}");
    }
}

#[test]
fn dnssec_records_and_the_apex_are_skipped() {
    let zone = body(
        "@ DNSKEY 257 3 13 AAAA\n\
         @ ZONEMD 1 1 1 00\n\
         @ A 192.0.2.1\n\
         0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.child.rpz. NSEC3 1 0 0 - 0p9mhaveqvm6t7vbl5lop2u3t2rp3ton A\n\
         a.example RRSIG CNAME 13 3 300 1 2 3 child.rpz. AAAA\n\
         a.example NSEC b.example.child.rpz. CNAME RRSIG NSEC\n\
         a.example CNAME .\n",
    );
    assert_eq!(rules(None, &zone), ["=a.example"]);
}

#[test]
fn bad_records_are_reported_at_their_first_line() {
    let zone = body(
        "bad..example CNAME .\n\
         *.com CNAME .\n\
         * CNAME .\n\
         a.*.example CNAME .\n\
         10.0.0.1 CNAME .\n\
         multi.example CNAME . extra.\n\
         notype.example 300 IN\n\
         \"quoted\".example CNAME .\n\
         q.example \"TXT\" x\n\
         $INCLUDE other.zone\n\
         $GENERATE 1-100 host$ CNAME .\n\
         $FOO bar\n\
         $ORIGIN\n\
         $TTL forever\n\
         esc\\.dot.example CNAME .\n\
         big\\999.example CNAME .\n\
         a.example CNAME \"quoted\"\n\
         span.example CNAME ( . \n\
         extra )\n",
    );
    let errors = errors(None, zone.as_bytes());
    let want = [
        "5: empty label",
        "6: single-label name",
        "7: a wildcard at the zone's apex would block every name",
        "8: unknown syntax: a wildcard is allowed only as a leading `*.`",
        "9: IP literal",
        "10: a CNAME takes one target name",
        "11: a record without a type",
        "12: a quoted string where a name belongs",
        "13: the record type is not a type",
        "14: $INCLUDE is not followed",
        "15: $GENERATE",
        "16: unknown directive",
        "17: $ORIGIN takes one name",
        "18: $TTL takes one TTL",
        "19: an escaped `.` inside a label",
        "20: a `\\DDD` escape above 255",
        "21: a quoted string where a name belongs",
        "22: a CNAME takes one target name",
    ];
    assert_eq!(errors.len(), want.len(), "{errors:#?}");
    for (got, want) in errors.iter().zip(want) {
        assert!(got.starts_with(want), "{got} / {want}");
    }
}

#[test]
fn a_blank_owner_needs_an_owner_before_it() {
    assert_eq!(
        errors(Some("child.rpz"), b"  CNAME .\n"),
        ["1: the line starts with a blank (the previous owner) but there is none"]
    );
}

#[test]
fn hostile_input() {
    // Parentheses never closed: one error at the record's first line, at
    // the end of the file.
    let zone = body("a.example CNAME (\n.\nb.example CNAME .\n");
    assert_eq!(
        errors(None, zone.as_bytes()),
        ["5: a `(` here is never closed"]
    );
    // Nested, stray, and quotes left open.
    assert_eq!(
        errors(None, body("a.example ( ( CNAME . ) )\n").as_bytes()),
        ["5: a `(` inside parentheses"]
    );
    assert_eq!(
        errors(
            None,
            body("a.example CNAME . )\nb.example CNAME .\n").as_bytes()
        ),
        ["5: a `)` without a `(`"]
    );
    assert_eq!(
        errors(
            None,
            body("a.example TXT \"open\nb.example CNAME .\n").as_bytes()
        ),
        ["5: a quoted string is not closed on its line"]
    );
    assert_eq!(
        errors(None, body("a.example CNAME \\").as_bytes()),
        ["5: a `\\` at the end of the line"]
    );
    // An error inside parentheses drops the record, and reading goes on
    // after its `)`.
    let zone = body("a.example TXT ( ( \"x\"\n \"y\" )\nb.example CNAME .\n");
    let (rules, errors) = read(None, zone.as_bytes());
    assert_eq!(errors, ["5: a `(` inside parentheses"]);
    assert_eq!(rules, [(7, "=b.example".to_owned())]);
    // A record that never ends grows no further than the limit.
    let mut zone = body("a.example TXT (\n").into_bytes();
    for _ in 0..(MAX_RECORD_LEN / 1000 + 10) {
        zone.extend_from_slice(format!("\"{}\"\n", "x".repeat(1000)).as_bytes());
    }
    zone.extend_from_slice(b")\nb.example CNAME .\n");
    let (rules, errors) = read(None, &zone);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("a record longer than 256 KiB"),
        "{errors:?}"
    );
    assert_eq!(rules.len(), 1);
    // Binary garbage: errors, never a panic.
    let mut garbage = HEAD.as_bytes().to_vec();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        garbage.push((x >> 24) as u8);
    }
    let (_, errors) = read(None, &garbage);
    assert!(!errors.is_empty());
    let (_, errors) = read(
        Some("child.rpz"),
        b"\xff\xfe CNAME .\na\x00b.example CNAME .\n",
    );
    assert_eq!(errors.len(), 2, "{errors:?}");
}

#[test]
fn errors_never_quote_the_name() {
    for record in [
        "secret-name..example CNAME .",
        "secret-name.com CNAME secret-name.com.",
        "secret-name!.example CNAME .",
        "secret-name.rpz-nsdname CNAME .",
        "secret-name",
    ] {
        let errors = errors(None, body(record).as_bytes());
        assert!(!errors.is_empty(), "{record}");
        for e in errors {
            assert!(!e.contains("secret"), "{e}");
        }
    }
}
