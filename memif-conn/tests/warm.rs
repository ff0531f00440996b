//! `TxQueue::warm` over a real connection: either role readies its next buffer without
//! sending anything, what it sends next arrives intact, and a queue whose link is down
//! says so.

mod common;

use std::time::Duration;

use common::*;
use memif_conn::*;

#[test]
fn warm_sends_nothing_and_the_next_frame_arrives() {
    let dir = TempDir::new("warm");
    let mut m = Socket::new(dir.sock(), SocketOptions::default()).unwrap();
    let mut s = Socket::new(dir.sock(), SocketOptions::default()).unwrap();
    let mid = m.add_interface(master_cfg(0)).unwrap();
    s.add_interface(slave_cfg(0)).unwrap();
    let ((_, mut mq), (_, mut sq)) = connect_pair(&mut m, &mut s);
    for _ in 0..3 {
        assert!(matches!(sq.tx[0].warm(256), Ok(true)));
        assert!(matches!(mq.tx[0].warm(256), Ok(true)));
    }
    assert!(mq.rx[0].rx_burst(64).unwrap().is_empty(), "warm sent nothing to the master");
    assert!(sq.rx[0].rx_burst(64).unwrap().is_empty(), "warm sent nothing to the slave");
    let request: Vec<u8> = (0..98u8).collect();
    assert_eq!(sq.tx[0].send(&[&request]).unwrap(), 1);
    let got: Vec<Vec<u8>> = mq.rx[0].rx_burst(64).unwrap().iter().map(|p| p.to_vec()).collect();
    assert_eq!(got, vec![request.clone()]);
    assert!(matches!(mq.tx[0].warm(256), Ok(true)));
    assert_eq!(mq.tx[0].send(&[&request[..60]]).unwrap(), 1);
    let got: Vec<Vec<u8>> = sq.rx[0].rx_burst(64).unwrap().iter().map(|p| p.to_vec()).collect();
    assert_eq!(got, vec![request[..60].to_vec()]);

    m.disconnect(mid, "bye").unwrap();
    drive(&mut [&mut m, &mut s], Duration::from_secs(5), |e| {
        e[1].iter().any(|e| matches!(e, Event::Disconnected { .. }))
    });
    assert!(matches!(sq.tx[0].warm(256), Err(QueueError::Down)));
    assert!(matches!(mq.tx[0].warm(256), Err(QueueError::Down)));
}
