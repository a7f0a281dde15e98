//! Label values drawn from small enums: each variant is written once,
//! with its label, and [`label_enum!`] derives `ALL` (in declaration
//! order: arrays of pre-created series are indexed by it), `as_str` and
//! prometheus-client's `EncodeLabelValue`. Nothing to keep in sync by
//! hand.

/// Declares a label enum: `Variant = "label",` per variant.
macro_rules! label_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $label:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every variant, in declaration order (the order indexes arrays).
            pub const ALL: [Self; [$(stringify!($variant)),+].len()] = [$(Self::$variant),+];

            /// The label value.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $label, )+
                }
            }
        }

        impl prometheus_client::encoding::EncodeLabelValue for $name {
            fn encode(
                &self,
                encoder: &mut prometheus_client::encoding::LabelValueEncoder<'_>,
            ) -> std::fmt::Result {
                std::fmt::Write::write_str(encoder, self.as_str())
            }
        }
    };
}

label_enum! {
    /// Transport a query arrived on.
    pub enum Protocol {
        Udp = "udp",
        Tcp = "tcp",
    }
}

label_enum! {
    /// How a query was answered.
    pub enum QueryResult {
        /// Answered by an upstream.
        Forwarded = "forwarded",
        /// Answered from the cache.
        Cached = "cached",
        /// Answered from the blocklist.
        Blocked = "blocked",
        /// Refused (client not allowed, or policy).
        Refused = "refused",
        /// Answered locally (e.g. `version.bind`, the list's own TXT record).
        Local = "local",
        /// SERVFAIL: no list, or no upstream answered.
        ServFail = "servfail",
        /// FORMERR: the query could not be parsed.
        FormErr = "formerr",
        /// NOTIMP: an opcode this resolver does not implement.
        NotImp = "notimp",
    }
}

label_enum! {
    /// A web-side filter: which of `[sni]`, `[http]` saw the traffic.
    pub enum Channel {
        Sni = "sni",
        Http = "http",
    }
}

label_enum! {
    /// The outcome of one connection (SNI) or request (HTTP) through a
    /// web-side filter (`ward_sni_connections_total`,
    /// `ward_http_requests_total`).
    pub enum WebResult {
        /// A name was read, not listed: relayed to the original destination.
        Allowed = "allowed",
        /// A name was read and is listed: TLS alert or the 451 page.
        Blocked = "blocked",
        /// No usable name; `on_unparsable = "allow"` relayed it.
        UnparsableAllowed = "unparsable_allowed",
        /// No usable name; `on_unparsable = "block"` refused it.
        UnparsableBlocked = "unparsable_blocked",
        /// No verified list in force: refused, never relayed unchecked.
        NotReady = "not_ready",
        /// The client sent no complete hello/head within the deadline.
        Timeout = "timeout",
        /// Allowed, but the original destination could not be reached.
        ConnectFailed = "connect_failed",
        /// The client went away or the socket failed before a verdict.
        ClientError = "client_error",
    }
}

label_enum! {
    /// Why no name could be taken from a ClientHello or request head
    /// (`ward_web_unparsable_total`).
    pub enum Unparsable {
        /// A ClientHello without a server_name (or a request without a host).
        NoName = "no_name",
        /// The name is an IP address literal.
        IpLiteral = "ip_literal",
        /// The name is not a valid host name.
        BadName = "bad_name",
        /// The bytes are not TLS (SNI) or not HTTP (HTTP filter).
        WrongProtocol = "wrong_protocol",
        /// Inconsistent lengths, duplicate or overlong extensions.
        Malformed = "malformed",
        /// Larger than the configured cap.
        TooLarge = "too_large",
    }
}

label_enum! {
    /// Why an upstream exchange failed.
    pub enum UpstreamError {
        /// No answer within the timeout.
        Timeout = "timeout",
        /// A socket error (unreachable, reset, …).
        Network = "network",
        /// The upstream answered SERVFAIL.
        ServFail = "servfail",
        /// The upstream answered REFUSED.
        Refused = "refused",
        /// The answer did not parse or did not match the question.
        Malformed = "malformed",
        /// The UDP answer was truncated (TC), so it was retried over TCP.
        Truncated = "truncated",
    }
}

label_enum! {
    /// The outcome of one poll of `list.url` (`ward_list_fetch_total`).
    pub enum FetchResult {
        /// A newer list was downloaded, verified and put in force.
        Ok = "ok",
        /// 304, or the very list in force again.
        NotModified = "not_modified",
        /// A status other than 200/304.
        HttpError = "http_error",
        /// Connection, TLS or protocol failure (including a refused redirect).
        Network = "network",
        /// No complete answer within `list.timeout`.
        Timeout = "timeout",
        /// Larger than `list.max_size`.
        TooLarge = "too_large",
        /// Signed by a trusted key, but the signature does not verify.
        BadSignature = "bad_signature",
        /// Signed by a key not in `list.trusted_keys`.
        UntrustedKey = "untrusted_key",
        /// Older than the highest serial accepted.
        Rollback = "rollback",
        /// Same serial as the highest accepted, different content.
        Equivocation = "equivocation",
        /// Not a well-formed artifact (truncated, garbage, bad index).
        Corrupt = "corrupt",
        /// A valid artifact of another list id than the one this node follows.
        WrongList = "wrong_list",
        /// The download could not be stored or activated on local disk.
        Io = "io",
        /// Already past its expiry, while a list is in force.
        Expired = "expired",
    }
}

impl FetchResult {
    /// Whether this is a reason to refuse a candidate list (a
    /// `ward_list_rejected_total` label).
    pub const fn is_refusal(self) -> bool {
        matches!(
            self,
            Self::BadSignature
                | Self::UntrustedKey
                | Self::Rollback
                | Self::Equivocation
                | Self::Corrupt
                | Self::WrongList
                | Self::Io
                | Self::Expired
        )
    }

    /// Whether the poll failed (and the updater backs off).
    pub const fn is_failure(self) -> bool {
        !matches!(self, Self::Ok | Self::NotModified)
    }
}

label_enum! {
    /// Which `[limits]` limit held an answer back
    /// (`ward_rate_limited_total`).
    pub enum LimitKind {
        /// `limits.client_qps`: queries per client prefix.
        ClientQps = "client_qps",
        /// `limits.rrl`: identical responses per client prefix.
        Rrl = "rrl",
    }
}

label_enum! {
    /// What happened to a rate-limited answer.
    pub enum LimitAction {
        /// Nothing was sent.
        Drop = "drop",
        /// An empty truncated answer was sent, so a real client retries
        /// over TCP.
        Slip = "slip",
    }
}

label_enum! {
    /// A listener whose connections are bounded
    /// (`ward_connections_closed_total`).
    pub enum Listener {
        /// DNS over TCP (`dns.listen`).
        DnsTcp = "dns_tcp",
        /// The admin HTTP listener (`admin.listen`).
        Admin = "admin",
    }
}

label_enum! {
    /// Why ward closed a client connection itself.
    pub enum CloseReason {
        /// The client already held its share of the connections; the new
        /// one was closed at once.
        ClientCap = "client_cap",
        /// Every slot was taken and none could be freed: the new
        /// connection was closed at once.
        Full = "full",
        /// Closed to make room for a new connection.
        Evicted = "evicted",
        /// No complete query or request within the idle/header timeout.
        Idle = "idle",
        /// The client did not read its answers within the write timeout.
        WriteTimeout = "write_timeout",
        /// Open longer than the connection lifetime (admin).
        Lifetime = "lifetime",
    }
}
