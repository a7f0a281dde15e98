//! `[profile.bypass]`: one boolean per bypass switch, each on unless set
//! to `false` (see `policy::bypass` for what each does).

use super::extract::{self, Got, Table};
use crate::policy::bypass::{Bypass, Switch};

/// The switches of one profile's `bypass` table (absent: every one on).
/// A key that is not a boolean is reported and counts as on.
pub(super) fn extract(mut t: Table<'_, '_>) -> Bypass {
    let mut bypass = Bypass::ALL_ON;
    for switch in Switch::ALL {
        if let Got::Ok(on) = t.get(switch.key(), extract::boolean) {
            bypass.set(switch, on);
        }
    }
    bypass
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigErrors};
    use crate::policy::bypass::Bypass;

    const DEMO_PUB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo.pub");
    const DEMO_WARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo.ward");

    /// A config with two profiles; `bypass` goes into the first.
    fn parse(bypass: &str) -> Result<Config, ConfigErrors> {
        let text = format!(
            "[dns]\nupstreams = [\"192.0.2.53\"]\n[list]\nfile = {DEMO_WARD:?}\ntrusted_keys = [{DEMO_PUB:?}]\n\
             [[profile]]\nname = \"primary\"\nclients = [\"10.0.0.0/24\"]\nage = 10\n{bypass}\n\
             [[profile]]\nname = \"secondary\"\nclients = [\"10.0.1.0/24\"]\nage = 15\n"
        );
        Config::parse_with(&text, "t.toml", || None)
    }

    #[test]
    fn every_switch_is_on_unless_turned_off() {
        let c = parse("").unwrap();
        assert_eq!(c.profiles[0].bypass, Bypass::ALL_ON);
        assert_eq!(c.profiles[1].bypass, Bypass::ALL_ON);
        let c = parse("[profile.bypass]\nech = false\nprivate_relay = false\nddr = true").unwrap();
        let want = Bypass {
            ech: false,
            private_relay: false,
            ..Bypass::ALL_ON
        };
        assert_eq!(c.profiles[0].bypass, want);
        assert_eq!(c.profiles[1].bypass, Bypass::ALL_ON);
        let text = c.to_toml();
        assert!(text.contains("[profile.bypass]"), "{text}");
        let again = Config::parse_with(&text, "again.toml", || None).unwrap();
        assert_eq!(again, c);
        let off = "[profile.bypass]\ncanary_domain = false\nprivate_relay = false\nddr = false\nencrypted_dns = false\nech = false";
        assert_eq!(parse(off).unwrap().profiles[0].bypass, Bypass::OFF);
    }

    #[test]
    fn bad_switches_are_reported_with_their_lines() {
        let errors: Vec<String> = parse("[profile.bypass]\nech = \"yes\"\nvpn = true\nddr = 1\n")
            .unwrap_err()
            .0
            .iter()
            .map(ToString::to_string)
            .collect();
        let all = errors.join("\n");
        assert_eq!(errors.len(), 3, "{all}");
        assert!(
            all.contains("t.toml:11: profile[0].bypass.ech: expected true or false"),
            "{all}"
        );
        assert!(all.contains("t.toml:12: profile[0].bypass.vpn"), "{all}");
        assert!(
            all.contains("t.toml:13: profile[0].bypass.ddr: expected true or false"),
            "{all}"
        );
        let errors = parse("bypass = true").unwrap_err();
        assert!(
            errors.0[0]
                .to_string()
                .contains("profile[0].bypass: expected a table"),
            "{}",
            errors.0[0]
        );
    }
}
