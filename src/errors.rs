//! One line of text from an error and its causes (a leaf, pure).

use std::error::Error;

/// The error and its causes as `outer: cause: cause`, like anyhow's `{:#}`,
/// but a cause whose text the line already holds is not repeated: many
/// errors name their cause in their own message and also expose it as
/// their source ("cannot read key file F: No such file ...").
pub fn chain(error: &dyn Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::chain;

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let e = crate::keys::KeyError::Read {
            path: "/x.pub".into(),
            source: io,
        };
        let e = anyhow::Error::new(e);
        assert_eq!(
            chain(e.as_ref()),
            "cannot read key file /x.pub: No such file"
        );
        let e = e.context("loading the trust anchors");
        assert_eq!(
            chain(e.as_ref()),
            "loading the trust anchors: cannot read key file /x.pub: No such file"
        );
        let plain = anyhow::anyhow!("inner").context("outer");
        assert_eq!(chain(plain.as_ref()), "outer: inner");
    }
}
