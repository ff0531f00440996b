//! One queue per thread: a master with four queue pairs; each RX queue sleeps on its own
//! interrupt eventfd in its own thread ([`memif_conn::RxQueue::wait`]), while the control
//! side stays on the main thread. A slave in the same process sends on every queue.
//!
//! ```text
//! cargo run --release -p memif-conn --example queue_per_thread
//! ```

use std::time::Duration;

use memif_conn::{Event, InterfaceConfig, Queues, Role, Socket, SocketOptions, SocketPath};

const QUEUES: u16 = 4;
const PACKETS: u64 = 100_000;

/// Polls both sockets until each hands over its queues.
fn connect(master: &mut Socket, slave: &mut Socket) -> Result<(Queues, Queues), memif_conn::Error> {
    let (mut mq, mut sq) = (None, None);
    let mut events = Vec::new();
    while mq.is_none() || sq.is_none() {
        for (sock, q) in [(&mut *master, &mut mq), (&mut *slave, &mut sq)] {
            sock.poll(Some(Duration::from_millis(10)), &mut events)?;
            for e in events.drain(..) {
                if let Event::Connected { queues, .. } = e {
                    *q = Some(queues);
                }
            }
        }
    }
    Ok((mq.expect("connected"), sq.expect("connected")))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("memif-example-{}", std::process::id()));
    let path = SocketPath::Path(dir.join("memif.sock"));
    let mut master = Socket::new(path.clone(), SocketOptions::default())?;
    let mut slave = Socket::new(path, SocketOptions::default())?;
    let mut mc = InterfaceConfig::new(0, Role::Master).queue_pairs(QUEUES);
    mc.interrupts_in_poll = false; // each queue's thread waits on its own eventfd
    master.add_interface(mc)?;
    slave.add_interface(InterfaceConfig::new(0, Role::Slave).queue_pairs(QUEUES))?;
    let (mq, sq) = connect(&mut master, &mut slave)?;

    let receivers: Vec<_> = mq
        .rx
        .into_iter()
        .map(|mut rx| {
            std::thread::spawn(move || {
                let mut got = 0u64;
                while got < PACKETS {
                    let burst = rx.rx_burst(256).expect("ring error");
                    if burst.is_empty() {
                        drop(burst);
                        rx.wait(Some(Duration::from_millis(100))).expect("link down");
                        continue;
                    }
                    got += burst.len() as u64;
                    burst.release();
                }
                (rx.index(), got)
            })
        })
        .collect();
    let senders: Vec<_> = sq
        .tx
        .into_iter()
        .map(|mut tx| {
            std::thread::spawn(move || {
                let frame = [0u8; 64];
                let mut sent = 0u64;
                while sent < PACKETS {
                    let n = (PACKETS - sent).min(32) as usize;
                    sent += tx.send(&vec![&frame[..]; n]).expect("link down") as u64;
                }
            })
        })
        .collect();
    for s in senders {
        s.join().expect("sender");
    }
    for r in receivers {
        let (q, got) = r.join().expect("receiver");
        println!("queue {q}: {got} packets");
    }
    drop((master, slave));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
