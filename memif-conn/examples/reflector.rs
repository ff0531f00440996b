//! A slave that sends back everything it receives, zero-copy: received M2S buffers are
//! enqueued on the S2M ring by swapping descriptors. Point it at a master, e.g. VPP's
//! `create interface memif id 0 master`, or `memif gen --role master`:
//!
//! ```text
//! cargo run --release -p memif-conn --example reflector -- /run/vpp/memif.sock 0 polling
//! ```

use std::time::Duration;

use memif_conn::{Event, InterfaceConfig, Queues, Role, RxMode, Socket, SocketOptions, SocketPath};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let path = SocketPath::parse(args.get(1).map_or(memif_proto::DEFAULT_SOCKET_PATH, |s| s.as_str()))?;
    let id = args.get(2).map_or(Ok(0), |s| s.parse())?;
    let polling = args.get(3).is_some_and(|m| m == "polling");

    let mut sock = Socket::new(path, SocketOptions::default())?;
    let mut cfg = InterfaceConfig::new(id, Role::Slave);
    cfg.rx_mode = if polling { RxMode::Polling } else { RxMode::Interrupt };
    sock.add_interface(cfg)?;

    let mut queues: Option<Queues> = None;
    let mut events = Vec::new();
    let mut forwarded = 0u64;
    loop {
        // interrupt mode: sleep in poll until the master signals a queue (or a control
        // event arrives); polling mode: only look at the control side in passing
        let wait = if polling && queues.is_some() { Duration::ZERO } else { Duration::from_millis(100) };
        sock.poll(Some(wait), &mut events)?;
        for e in events.drain(..) {
            match e {
                Event::Connected { queues: q, peer_name, .. } => {
                    println!("connected to {peer_name}");
                    queues = Some(q);
                }
                Event::Disconnected { reason, .. } => {
                    println!("disconnected: {reason}; forwarded {forwarded} packets");
                    queues = None; // drop the queues: the mapping goes with them
                }
                Event::Interrupt { .. } | Event::Refused { .. } => {}
            }
        }
        if let Some(q) = &mut queues {
            for (rx, tx) in q.rx.iter_mut().zip(q.tx.iter_mut()) {
                // loop until the ring is empty, so one interrupt serves a whole backlog
                while let Ok(n) = rx.forward_to(tx, 256) {
                    forwarded += n as u64;
                    if n == 0 {
                        break;
                    }
                }
            }
        }
    }
}
