//! TLS ClientHello reader: reassembles records and handshake fragments
//! and extracts the server names and ALPN. Pure: no I/O.
//!
//! (Stub: being written.)

/// What the reader learned from a complete ClientHello.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// Every `host_name` entry of the server_name extension, raw bytes as
    /// sent (not normalised, not validated).
    pub server_names: Vec<Vec<u8>>,
    /// ALPN protocol names, as sent.
    pub alpn: Vec<Vec<u8>>,
    /// An encrypted_client_hello extension (0xfe0d) is present: the names
    /// above are the outer (public) ones.
    pub ech_present: bool,
}

/// Why the bytes are not a ClientHello ward can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelloError {
    /// The first bytes are not a TLS handshake record.
    #[error("not TLS: {0}")]
    NotTls(&'static str),
    /// More than the configured cap arrived before the hello was complete.
    #[error("ClientHello larger than {max} bytes")]
    TooLarge { max: usize },
    /// A length or field is inconsistent.
    #[error("malformed ClientHello at byte {offset}: {what}")]
    Malformed { offset: usize, what: &'static str },
}

/// Result of feeding bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    NeedMore,
    Done(ClientHello),
    Failed(HelloError),
}

/// Incremental reader. Feed it every byte received, in order.
#[derive(Debug)]
pub struct HelloReader {
    max: usize,
}

impl HelloReader {
    pub fn new(max: usize) -> Self {
        Self { max }
    }

    pub fn feed(&mut self, bytes: &[u8]) -> Progress {
        let _ = (bytes, self.max);
        Progress::NeedMore
    }
}
