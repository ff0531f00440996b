//! The control channel's I/O: SOCK_SEQPACKET UNIX sockets, 128-byte messages, and at
//! most one file descriptor per message passed with SCM_RIGHTS.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use memif_proto::{Message, ProtoError, MSG_SIZE};
use nix::errno::Errno;
use nix::sys::socket::{
    self, recvmsg, sendmsg, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType,
    UnixAddr, UnixCredentials,
};

use crate::Error;

/// Where the control socket is: a filesystem path, or an abstract name (`@name`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SocketPath {
    /// A socket file.
    Path(PathBuf),
    /// A Linux abstract socket name (without the leading NUL / `@`).
    Abstract(Vec<u8>),
}

impl SocketPath {
    /// Parses `@name` as an abstract name and anything else as a path. Refuses names
    /// too long for `sun_path` (107 bytes plus the NUL for a path, 107 for an abstract
    /// name after its leading NUL) and empty ones.
    pub fn parse(s: &str) -> Result<SocketPath, Error> {
        let p = match s.strip_prefix('@') {
            Some(name) => SocketPath::Abstract(name.as_bytes().to_vec()),
            None => SocketPath::Path(PathBuf::from(s)),
        };
        p.unix_addr()?;
        Ok(p)
    }

    /// The address to bind or connect to. An abstract address's length counts only the
    /// name, as libmemif and DPDK do.
    pub fn unix_addr(&self) -> Result<UnixAddr, Error> {
        let too_long = |len| Error::InvalidSocketPath(format!("{self} is {len} bytes long; at most 107 fit"));
        match self {
            SocketPath::Path(p) => {
                let len = p.as_os_str().len();
                if len == 0 {
                    return Err(Error::InvalidSocketPath("empty socket path".into()));
                }
                if len > 107 {
                    return Err(too_long(len));
                }
                UnixAddr::new(p.as_path()).map_err(|e| Error::InvalidSocketPath(format!("{self}: {e}")))
            }
            SocketPath::Abstract(n) => {
                if n.is_empty() {
                    return Err(Error::InvalidSocketPath("empty abstract socket name".into()));
                }
                if n.len() > 107 {
                    return Err(too_long(n.len()));
                }
                UnixAddr::new_abstract(n).map_err(|e| Error::InvalidSocketPath(format!("{self}: {e}")))
            }
        }
    }

    /// The socket file, for a filesystem path.
    pub fn as_path(&self) -> Option<&Path> {
        match self {
            SocketPath::Path(p) => Some(p),
            SocketPath::Abstract(_) => None,
        }
    }
}

impl std::fmt::Display for SocketPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SocketPath::Path(p) => write!(f, "{}", p.display()),
            SocketPath::Abstract(n) => write!(f, "@{}", String::from_utf8_lossy(n)),
        }
    }
}

impl std::str::FromStr for SocketPath {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        SocketPath::parse(s)
    }
}

impl Default for SocketPath {
    fn default() -> Self {
        SocketPath::Path(memif_proto::DEFAULT_SOCKET_PATH.into())
    }
}

fn seqpacket() -> Result<OwnedFd, Error> {
    socket::socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )
    .map_err(|e| Error::io("create a control socket", e))
}

/// File mode and owner for a master's socket file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketFileOptions {
    /// Mode bits set on the socket file (default 0o660).
    pub mode: u32,
    /// Owner (uid, gid) set on the socket file, if any.
    pub owner: Option<(u32, u32)>,
}

impl Default for SocketFileOptions {
    fn default() -> Self {
        SocketFileOptions { mode: 0o660, owner: None }
    }
}

/// A listening control socket. Removes its socket file on drop.
#[derive(Debug)]
pub struct Listener {
    fd: OwnedFd,
    path: SocketPath,
}

impl Listener {
    /// Binds and listens. A stale socket file (nobody listening) is removed first; a
    /// live one is refused. The parent folder is created if missing.
    pub fn bind(path: &SocketPath, opts: &SocketFileOptions) -> Result<Listener, Error> {
        let addr = path.unix_addr()?;
        if let Some(p) = path.as_path() {
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Error::Io(format!("create {}", dir.display()), e))?;
            }
            if let Ok(meta) = std::fs::symlink_metadata(p) {
                use std::os::unix::fs::FileTypeExt;
                if !meta.file_type().is_socket() {
                    return Err(Error::InvalidSocketPath(format!(
                        "{} exists and is not a socket",
                        p.display()
                    )));
                }
                match connect(path) {
                    Ok(_) => {
                        return Err(Error::InvalidSocketPath(format!(
                            "another process listens on {}",
                            p.display()
                        )))
                    }
                    Err(_) => {
                        tracing::info!(path = %p.display(), "removing stale socket file");
                        let _ = std::fs::remove_file(p);
                    }
                }
            }
        }
        let fd = seqpacket()?;
        socket::bind(fd.as_raw_fd(), &addr).map_err(|e| Error::io(&format!("bind {path}"), e))?;
        let listener = Listener { fd, path: path.clone() };
        if let Some(p) = path.as_path() {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(opts.mode))
                .map_err(|e| Error::Io(format!("chmod {}", p.display()), e))?;
            if let Some((uid, gid)) = opts.owner {
                std::os::unix::fs::chown(p, Some(uid), Some(gid))
                    .map_err(|e| Error::Io(format!("chown {}", p.display()), e))?;
            }
        }
        socket::listen(&listener.fd, socket::Backlog::new(128).unwrap_or(socket::Backlog::MAXCONN))
            .map_err(|e| Error::io(&format!("listen on {path}"), e))?;
        Ok(listener)
    }

    /// Accepts one pending connection, if any (non-blocking).
    pub fn accept(&self) -> Result<Option<OwnedFd>, Error> {
        match socket::accept4(self.fd.as_raw_fd(), SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK) {
            // SAFETY: accept4 returned a new fd that nothing else owns.
            Ok(fd) => Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) })),
            Err(Errno::EAGAIN) | Err(Errno::ECONNABORTED) | Err(Errno::EINTR) => Ok(None),
            Err(e) => Err(Error::io("accept", e)),
        }
    }

    /// The socket's path or name.
    pub fn path(&self) -> &SocketPath {
        &self.path
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(p) = self.path.as_path() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Connects to a master's socket (non-blocking once connected).
pub fn connect(path: &SocketPath) -> Result<OwnedFd, Error> {
    let addr = path.unix_addr()?;
    let fd = seqpacket()?;
    match socket::connect(fd.as_raw_fd(), &addr) {
        Ok(()) => Ok(fd),
        Err(e) => Err(Error::io(&format!("connect to {path}"), e)),
    }
}

/// Sends one message with at most one fd.
pub fn send(fd: BorrowedFd<'_>, msg: &Message, attach: Option<BorrowedFd<'_>>) -> Result<(), Error> {
    let bytes = msg.encode();
    let iov = [IoSlice::new(&bytes)];
    let raw: [RawFd; 1];
    let cmsgs: &[ControlMessage<'_>] = match attach {
        Some(a) => {
            raw = [a.as_raw_fd()];
            &[ControlMessage::ScmRights(&raw)]
        }
        None => &[],
    };
    loop {
        match sendmsg::<()>(fd.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None) {
            Ok(n) if n == MSG_SIZE => return Ok(()),
            Ok(n) => return Err(Error::Protocol(format!("short send of {n} bytes"))),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::io("send on the control socket", e)),
        }
    }
}

/// What one receive brought.
#[derive(Debug)]
pub enum Received {
    /// A message (or why it is not one), with the fds that came with it.
    Message(Result<Message, ProtoError>, Vec<OwnedFd>),
    /// Nothing to read now.
    WouldBlock,
    /// The peer closed the socket.
    Closed,
}

/// Receives one message. Every fd that arrives is owned (and so closed on drop), also
/// when the message is refused.
pub fn recv(fd: BorrowedFd<'_>) -> Result<Received, Error> {
    let mut buf = [0u8; 2 * MSG_SIZE];
    let mut cmsg = nix::cmsg_space!([RawFd; 8]);
    loop {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let r = recvmsg::<()>(
            fd.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC | MsgFlags::MSG_DONTWAIT,
        );
        let msg = match r {
            Ok(m) => m,
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) => return Ok(Received::WouldBlock),
            Err(Errno::ECONNRESET) => return Ok(Received::Closed),
            Err(e) => return Err(Error::io("receive on the control socket", e)),
        };
        let mut fds = Vec::new();
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                if let ControlMessageOwned::ScmRights(raw) = c {
                    for r in raw {
                        // SAFETY: the kernel installed these fds in our table for this
                        // message; nothing else refers to them.
                        fds.push(unsafe { OwnedFd::from_raw_fd(r) });
                    }
                }
            }
        }
        let len = msg.bytes;
        let truncated = msg.flags.intersects(MsgFlags::MSG_TRUNC | MsgFlags::MSG_CTRUNC);
        if len == 0 && fds.is_empty() && !truncated {
            return Ok(Received::Closed);
        }
        let parsed = if msg.flags.contains(MsgFlags::MSG_TRUNC) {
            Err(ProtoError::Length(len.max(buf.len() + 1)))
        } else {
            Message::parse(&buf[..len])
        };
        return Ok(Received::Message(parsed, fds));
    }
}

/// The peer's uid, gid and pid (SO_PEERCRED).
pub fn peer_credentials(fd: BorrowedFd<'_>) -> Result<UnixCredentials, Error> {
    socket::getsockopt(&fd, socket::sockopt::PeerCredentials).map_err(|e| Error::io("SO_PEERCRED", e))
}
