//! Your own event loop: memif-conn's control side is one pollable fd
//! ([`memif_conn::Socket`] implements `AsFd`) plus a timer ([`Socket::next_timeout`]);
//! each RX queue's interrupt eventfd is pollable too ([`memif_conn::RxQueue`] implements
//! `AsFd`). Here plain `poll(2)` waits on all of them; epoll, mio or tokio's `AsyncFd`
//! work the same way. A master and a slave in one process exchange 10 packets.
//!
//! ```text
//! cargo run -p memif-conn --example own_event_loop
//! ```

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use memif_conn::{Event, InterfaceConfig, Queues, Role, Socket, SocketOptions, SocketPath};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("memif-own-loop-{}", std::process::id()));
    let path = SocketPath::Path(dir.join("memif.sock"));
    let mut master = Socket::new(path.clone(), SocketOptions::default())?;
    let mut slave = Socket::new(path, SocketOptions::default())?;
    let mut mc = InterfaceConfig::new(0, Role::Master);
    mc.interrupts_in_poll = false; // we wait on the queue's fd ourselves
    master.add_interface(mc)?;
    slave.add_interface(InterfaceConfig::new(0, Role::Slave))?;

    let (mut mq, mut sq): (Option<Queues>, Option<Queues>) = (None, None);
    let mut events = Vec::new();
    let (mut sent, mut received) = (0, 0);
    while received < 10 {
        // what to wait for: both control sides, and the master's RX interrupt once up
        let mut fds = vec![
            PollFd::new(master.as_fd(), PollFlags::POLLIN),
            PollFd::new(slave.as_fd(), PollFlags::POLLIN),
        ];
        if let Some(q) = &mq {
            fds.push(PollFd::new(q.rx[0].as_fd(), PollFlags::POLLIN));
        }
        // until the earliest timer (reconnect, handshake timeout) of either socket
        let timer = [master.next_timeout(), slave.next_timeout()].into_iter().flatten().min();
        let ms =
            timer.map_or(100, |t| t.saturating_duration_since(Instant::now()).as_millis().min(100) as u16);
        poll(&mut fds, PollTimeout::from(ms))?;
        let irq = fds.get(2).and_then(|f| f.revents()).is_some_and(|r| r.contains(PollFlags::POLLIN));
        drop(fds);

        // readiness (or a timer): let each socket do its work without blocking
        for (sock, q) in [(&mut master, &mut mq), (&mut slave, &mut sq)] {
            sock.poll(Some(Duration::ZERO), &mut events)?;
            for e in events.drain(..) {
                match e {
                    Event::Connected { queues, .. } => *q = Some(queues),
                    Event::Disconnected { reason, .. } => return Err(reason.into()),
                    _ => {}
                }
            }
        }
        if irq {
            if let Some(q) = &mq {
                q.rx[0].interrupt().clear();
            }
        }
        if let (Some(m), Some(s)) = (&mut mq, &mut sq) {
            if sent < 10 {
                sent += s.tx[0].send(&[format!("packet {sent}").as_bytes()])?;
            }
            let burst = m.rx[0].rx_burst(32)?;
            for p in burst.iter() {
                println!("master got {:?}", String::from_utf8_lossy(&p.to_vec()));
                received += 1;
            }
            burst.release();
        }
    }
    drop((mq, sq, master, slave));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
