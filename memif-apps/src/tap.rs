//! A Linux TAP device (`IFF_TAP | IFF_NO_PI` on `/dev/net/tun`): Ethernet frames in and
//! out of the kernel's network stack, for `memif tap`.
//!
//! The `TUNSETIFF` ioctl is done by the `tun` crate, so this crate needs no `unsafe`.
//! The device exists while the `TapDevice` lives (it is not made persistent) and is
//! created down and without addresses: configure it with `ip` as any interface.
//! Needs `CAP_NET_ADMIN` (root) and `/dev/net/tun`.

use std::io;
use std::time::Duration;

use tun::{AbstractDevice, Configuration, Layer};

/// An open TAP device in nonblocking mode.
pub struct TapDevice {
    dev: tun::Device,
    name: String,
}

impl std::fmt::Debug for TapDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TapDevice").field("name", &self.name).finish_non_exhaustive()
    }
}

impl TapDevice {
    /// Creates the TAP device `name` (at most 15 bytes; see
    /// [`crate::cli::parse_tap_name`]), or attaches to it if a persistent one exists.
    pub fn open(name: &str) -> io::Result<TapDevice> {
        let mut config = Configuration::default();
        config.tun_name(name).layer(Layer::L2);
        // Only create it: address, MTU and link state are the administrator's.
        config.platform_config(|p| {
            p.ensure_root_privileges(false);
        });
        let dev = tun::create(&config).map_err(|e| to_io(e, name))?;
        dev.set_nonblock()?;
        let name = dev.tun_name().map_err(|e| to_io(e, name))?;
        Ok(TapDevice { dev, name })
    }

    /// The device's name as the kernel has it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads one frame the kernel sent out of the device, if one is queued.
    /// `buf` should hold the device MTU plus 14 bytes of Ethernet header; a longer
    /// frame is cut to `buf`.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        match self.dev.recv(buf) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Like [`TapDevice::try_recv`], waiting up to `timeout` for a frame.
    pub fn recv_timeout(&self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        match self.dev.recv_timeout(buf, timeout) {
            Ok(n) => Ok(Some(n)),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Hands one Ethernet frame (without FCS) to the kernel as if it arrived on the
    /// device. Fails with `EIO` while the device is down.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        let n = self.dev.send(frame)?;
        if n != frame.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("TAP device took {n} of {} bytes", frame.len()),
            ));
        }
        Ok(())
    }
}

fn to_io(e: tun::Error, name: &str) -> io::Error {
    match e {
        tun::Error::Io(e) => io::Error::new(e.kind(), format!("TAP device {name}: {e}")),
        other => io::Error::other(format!("TAP device {name}: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet;
    use std::net::Ipv4Addr;
    use std::process::Command;
    use std::time::Instant;

    const INNER_ENV: &str = "MEMIF_TAP_TEST_IN_NETNS";
    const INNER_DONE: &str = "tap-test: kernel answered our ARP request through the TAP device";

    fn ip(args: &[&str]) {
        let st = Command::new("ip").args(args).status().expect("run ip");
        assert!(st.success(), "ip {args:?} failed: {st}");
    }

    /// Deletes the test's network namespace however the test ends.
    struct Netns(String);

    impl Drop for Netns {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }

    /// Creates a network namespace, and in it (see the inner test) a TAP device; writes
    /// one ARP request into it and expects the kernel's ARP reply out of it. Nothing
    /// leaves the namespace, which is deleted at the end.
    ///
    /// Needs root and /dev/net/tun (CI has both); set MEMIF_SKIP_ROOT_TESTS=1 to skip
    /// it where they are missing.
    #[test]
    fn tap_device_in_a_private_network_namespace() {
        if std::env::var_os("MEMIF_SKIP_ROOT_TESTS").is_some() {
            eprintln!("skipped: MEMIF_SKIP_ROOT_TESTS is set");
            return;
        }
        let ns = Netns(format!("memif-test-{}", std::process::id()));
        ip(&["netns", "add", &ns.0]);
        let exe = std::env::current_exe().unwrap();
        let out = Command::new("ip")
            .args(["netns", "exec", &ns.0])
            .arg(exe)
            .args([
                "tap::tests::inner_tap_round_trip",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(INNER_ENV, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "inner test failed:\n{stdout}\n{stderr}");
        assert!(stdout.contains(INNER_DONE), "inner test did not run:\n{stdout}\n{stderr}");
    }

    /// The body of the test above; does nothing unless started by it inside its
    /// namespace.
    #[test]
    #[ignore = "run by tap_device_in_a_private_network_namespace inside a network namespace"]
    fn inner_tap_round_trip() {
        if std::env::var_os(INNER_ENV).is_none() {
            eprintln!("not in the test's network namespace; nothing to do");
            return;
        }
        let kernel_ip = Ipv4Addr::new(192, 0, 2, 1);
        let our_ip = Ipv4Addr::new(192, 0, 2, 2);
        let our_mac = [0x02, 0, 0, 0, 0x7a, 0x01];

        let tap = TapDevice::open("memiftest0").unwrap();
        assert_eq!(tap.name(), "memiftest0");
        // Nonblocking: nothing queued on a device that is down.
        let mut buf = [0u8; 2048];
        assert_eq!(tap.try_recv(&mut buf).unwrap(), None);

        ip(&["addr", "add", "192.0.2.1/24", "dev", "memiftest0"]);
        ip(&["link", "set", "dev", "memiftest0", "up"]);
        let kernel_mac = std::fs::read_to_string("/sys/class/net/memiftest0/address").unwrap();
        let kernel_mac = crate::cli::parse_mac(kernel_mac.trim()).unwrap().0;

        let mut req = [0u8; 64];
        let n = packet::build_arp_request(our_mac, our_ip, kernel_ip, &mut req).unwrap();
        tap.send(&req[..n]).unwrap();

        // The kernel may also send IPv6 neighbour discovery; look for the ARP reply.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            assert!(Instant::now() < deadline, "no ARP reply from the kernel");
            let Some(n) = tap.recv_timeout(&mut buf, Duration::from_millis(200)).unwrap() else { continue };
            if let Some(mac) = packet::parse_arp_reply(&buf[..n], kernel_ip) {
                assert_eq!(mac, kernel_mac);
                assert_eq!(&buf[..6], &our_mac, "reply is addressed to us");
                break;
            }
        }
        drop(tap);
        assert!(!std::path::Path::new("/sys/class/net/memiftest0").exists(), "device outlived its fd");
        println!("{INNER_DONE}");
    }

    #[test]
    fn opening_with_a_bad_name_fails_cleanly() {
        // Refused before any ioctl (name longer than IFNAMSIZ), so safe anywhere.
        let e = TapDevice::open("a-name-much-longer-than-ifnamsiz").unwrap_err();
        assert!(e.to_string().contains("a-name-much-longer-than-ifnamsiz"), "{e}");
    }
}
