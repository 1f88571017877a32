//! The exit-watch fallback (no pidfd): forced with `WEFT_PROCESS_POLL=1`, which weft reads
//! at the first spawn, so it has its own test binary with a single test.

mod util;

use std::os::unix::process::ExitStatusExt;

use util::net::{rt, zombie_children};
use weft::process::{shell, Command};

#[test]
fn timer_fallback_waits_kills_and_reaps() {
    std::env::set_var("WEFT_PROCESS_POLL", "1");
    rt(2).block_on(async {
        let mut child = Command::new("sleep").arg("100").spawn().unwrap();
        assert!(format!("{child:?}").contains("Timer"), "{child:?}");
        child.kill().unwrap();
        assert_eq!(child.wait().await.unwrap().signal(), Some(libc::SIGKILL));

        let children: Vec<_> = (0..50)
            .map(|i| {
                weft::spawn(
                    async move { shell("echo $0; exit 3").arg(i.to_string()).output().await },
                )
            })
            .collect();
        for (i, c) in children.into_iter().enumerate() {
            let out = c.await.unwrap().unwrap();
            assert_eq!(
                (out.stdout, out.status.code()),
                (format!("{i}\n").into_bytes(), Some(3))
            );
        }
    });
    assert_eq!(zombie_children(), Vec::<u32>::new());
}
