//! The template language: parsing, checks and rendering.

use super::*;

/// The smallest complete template, with `extra` appended.
fn minimal(extra: &str) -> String {
    format!(
        "<html lang=\"{{{{lang}}}}\">{{{{first}}}}|{{{{second}}}}</html>\n\
         {{{{section vi}}}}VI:{{{{reason_vi}}}}{{{{end}}}}\n\
         {{{{section en}}}}EN:{{{{reason_en}}}}{{{{end}}}}\n\
         {{{{reason vi :other}}}}khác{{{{end}}}}\n\
         {{{{reason en :other}}}}other{{{{end}}}}\n\
         {{{{reason vi :confidential}}}}kín{{{{end}}}}\n\
         {{{{reason en :confidential}}}}neutral{{{{end}}}}\n\
         {extra}"
    )
}

fn values() -> Values {
    let mut v = Values::default();
    v.set(Value::Lang, "vi");
    v.set(Value::Host, "blocked.example");
    v
}

fn problem(text: &str) -> (usize, TemplateProblem) {
    match Template::parse(text) {
        Err(ParseError::At { line, problem }) => (line, problem),
        other => panic!("expected an error at a line, got {other:?}"),
    }
}

#[test]
fn embedded_template_parses() {
    Template::parse(EMBEDDED).unwrap();
}

#[test]
fn sections_follow_the_language_order() {
    let t = Template::parse(&minimal("")).unwrap();
    let page = t.render(&values(), [Lang::Vi, Lang::En], Reason::Other);
    assert!(
        page.starts_with("<html lang=\"vi\">VI:khác|EN:other</html>"),
        "{page}"
    );
    let page = t.render(&values(), [Lang::En, Lang::Vi], Reason::Other);
    assert!(page.contains(">EN:other|VI:khác<"), "{page}");
}

#[test]
fn reasons_resolve_with_fallbacks() {
    let t = Template::parse(&minimal(
        "{{reason vi adult porn}}\n  người lớn {{host}}\n{{end}}{{reason en adult porn}}adults{{end}}\
         {{reason vi :unlisted}}chưa{{end}}",
    ))
    .unwrap();
    let order = [Lang::Vi, Lang::En];
    let r = |reason| t.render(&values(), order, reason);
    assert!(r(Reason::Category("adult")).contains("VI:người lớn blocked.example|EN:adults"));
    assert!(r(Reason::Category("porn")).contains("VI:người lớn blocked.example|EN:adults"));
    assert!(r(Reason::Category("nope")).contains("VI:khác|EN:other"));
    assert!(r(Reason::Confidential).contains("VI:kín|EN:neutral"));
    // `:unlisted` exists only in Vietnamese; English falls back.
    assert!(r(Reason::Unlisted).contains("VI:chưa|EN:other"));
}

#[test]
fn values_are_escaped_and_if_else_works() {
    let t = Template::parse(&minimal(
        "{{reason vi x}}{{if host}}[{{host}}]{{else}}none{{end}}{{end}}{{reason en x}}{{category}}{{end}}",
    ))
    .unwrap();
    let mut v = values();
    v.set(Value::Host, "<script>alert('x')</script>&\"");
    v.set(Value::Category, "");
    let page = t.render(&v, [Lang::Vi, Lang::En], Reason::Category("x"));
    assert!(
        page.contains("[&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;]"),
        "{page}"
    );
    assert!(!page.contains("<script"));
    v.set(Value::Host, "");
    let page = t.render(&v, [Lang::Vi, Lang::En], Reason::Category("x"));
    assert!(page.contains("VI:none|EN:<"), "{page}");
}

#[test]
fn escape_covers_html_specials() {
    assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
    assert_eq!(escape("bücher.example"), "bücher.example");
}

#[test]
fn comments_are_dropped() {
    let t = Template::parse(&minimal(
        "{{! a note\n over two lines }}{{!-- a {{host}} note --}}{{host}}",
    ))
    .unwrap();
    let page = t.render(&values(), [Lang::Vi, Lang::En], Reason::Other);
    assert!(!page.contains("note"));
    assert!(page.ends_with("blocked.example"), "{page}");
    let (line, p) = problem("\n{{!-- never closed }}");
    assert_eq!((line, p), (2, TemplateProblem::Unterminated));
}

#[test]
fn unknown_placeholder_names_its_line() {
    let (line, p) = problem(&minimal("\n\n{{hostname}}"));
    assert_eq!(line, 10);
    assert_eq!(p, TemplateProblem::UnknownPlaceholder("hostname".into()));
    assert!(p.to_string().contains("`{{hostname}}`"), "{p}");
    assert!(p.to_string().contains("host, category"), "{p}");
    let (line, p) = problem("line one\n{{if nope}}x{{end}}");
    assert_eq!(
        (line, p),
        (2, TemplateProblem::UnknownPlaceholder("nope".into()))
    );
    let (line, _) = problem("a\nb {{lang extra}}");
    assert_eq!(line, 2);
}

#[test]
fn unterminated_tag_names_its_line() {
    let (line, p) = problem("one\ntwo\nthree {{host\nfour");
    assert_eq!((line, p), (3, TemplateProblem::Unterminated));
    let (line, _) = problem(&minimal("{{host}}\n{{"));
    assert_eq!(line, 9);
}

#[test]
fn structure_errors_name_their_line() {
    assert_eq!(problem("a\n{{end}}"), (2, TemplateProblem::Stray("end")));
    assert_eq!(problem("{{else}}"), (1, TemplateProblem::Stray("else")));
    assert_eq!(
        problem("\n{{if host}}x"),
        (2, TemplateProblem::Unclosed("if host".into()))
    );
    assert_eq!(
        problem("{{if host}}{{section vi}}{{end}}{{end}}").1,
        TemplateProblem::NotTopLevel("section")
    );
    assert!(matches!(
        problem("{{section vi}}{{first}}{{end}}").1,
        TemplateProblem::NotHere { .. }
    ));
    assert!(matches!(
        problem("{{reason vi x}}{{reason_vi}}{{end}}").1,
        TemplateProblem::NotHere { .. }
    ));
    assert_eq!(
        problem("{{section fr}}{{end}}").1,
        TemplateProblem::UnknownLanguage("fr".into())
    );
    assert_eq!(
        problem("{{reason vi Adult}}{{end}}").1,
        TemplateProblem::BadReasonKey("Adult".into())
    );
    assert!(matches!(
        problem("{{reason vi}}{{end}}").1,
        TemplateProblem::Usage { .. }
    ));
    assert!(matches!(
        problem("{{if}}{{end}}").1,
        TemplateProblem::Usage { .. }
    ));
    assert_eq!(problem("x {{ }}").1, TemplateProblem::Empty);
    let (line, p) = problem(&minimal("{{reason vi :other}}again{{end}}"));
    assert_eq!(line, 8);
    assert!(
        matches!(p, TemplateProblem::Duplicate { first_line: 4, .. }),
        "{p:?}"
    );
}

#[test]
fn confidential_wording_cannot_show_the_host_or_category() {
    let text = minimal("").replace("kín", "kín {{host}}");
    assert_eq!(
        problem(&text),
        (6, TemplateProblem::ConfidentialShows("host"))
    );
    let text = minimal("").replace("neutral", "{{if category}}x{{end}}");
    assert_eq!(
        problem(&text),
        (7, TemplateProblem::ConfidentialShows("category"))
    );
    // Shared with another key, the rule still holds.
    let (_, p) = problem(&minimal(
        "{{reason vi :unlisted :confidential}}{{host}}{{end}}",
    ));
    assert_eq!(p, TemplateProblem::ConfidentialShows("host"));
}

#[test]
fn missing_parts_are_reported() {
    let full = minimal("");
    let cases = [
        (
            full.replace("{{section en}}EN:{{reason_en}}{{end}}", ""),
            Missing::Section(Lang::En),
        ),
        (
            full.replace("{{reason vi :confidential}}kín{{end}}", ""),
            Missing::Reason(Lang::Vi, CONFIDENTIAL),
        ),
        (
            full.replace("{{reason en :other}}other{{end}}", ""),
            Missing::Reason(Lang::En, OTHER),
        ),
        (full.replace("|{{second}}", ""), Missing::Slot("second")),
    ];
    for (text, want) in cases {
        assert_eq!(
            Template::parse(&text).unwrap_err(),
            ParseError::Missing(want)
        );
    }
}
