//! Errors of the connection layer.

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The socket path or name cannot be used.
    #[error("invalid socket path: {0}")]
    InvalidSocketPath(String),
    /// A system call failed.
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
    /// The peer broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The configuration is not usable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// No interface with that handle.
    #[error("no such interface")]
    NoSuchInterface,
}

impl Error {
    pub(crate) fn io(what: &str, e: nix::errno::Errno) -> Error {
        Error::Io(what.to_string(), std::io::Error::from(e))
    }
}
