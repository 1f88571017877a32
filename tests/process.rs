//! Command and Child: many concurrent children, big outputs through pipes, stdin, kill,
//! no zombies, errors. The tests take one lock so the zombie scan sees only its own
//! children.

mod util;

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use util::net::{close, read_to_end, rt, write_all, zombie_children};
use util::serial;
use weft::process::{shell, Command, Stdio};

/// Fails the test instead of hanging it.
async fn bounded<F: std::future::Future>(what: &str, f: F) -> F::Output {
    match weft::time::timeout(Duration::from_secs(120), f).await {
        Ok(v) => v,
        Err(_) => panic!("{what} did not finish within 120 s"),
    }
}

#[test]
fn two_hundred_concurrent_children_each_with_its_output_and_exit_code() {
    let _serial = serial();
    rt(2).block_on(async {
        let children: Vec<_> = (0..200)
            .map(|i| {
                weft::spawn(async move {
                    shell("echo $0; exit 3")
                        .arg(format!("child-{i}"))
                        .output()
                        .await
                })
            })
            .collect();
        for (i, c) in children.into_iter().enumerate() {
            let out = bounded("a child", c).await.unwrap().unwrap();
            assert_eq!(out.stdout, format!("child-{i}\n").as_bytes());
            assert_eq!(out.stderr, b"");
            assert_eq!(out.status.code(), Some(3));
        }
    });
    assert_eq!(zombie_children(), Vec::<u32>::new());
}

const TEN_MIB: usize = 10 * 1024 * 1024;

fn yes_pattern(word: &str, len: usize) -> Vec<u8> {
    format!("{word}\n")
        .into_bytes()
        .into_iter()
        .cycle()
        .take(len)
        .collect()
}

#[test]
fn ten_mib_on_stdout_read_while_the_child_writes() {
    let _serial = serial();
    rt(2).block_on(async {
        let mut child = shell(&format!("yes abcdefghi | head -c {TEN_MIB}"))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let got = bounded("reading stdout", read_to_end(&mut stdout))
            .await
            .unwrap();
        assert_eq!(got.len(), TEN_MIB);
        assert!(got == yes_pattern("abcdefghi", TEN_MIB));
        assert!(child.wait().await.unwrap().success());
    });
}

/// `output` reads stdout and stderr concurrently: a child that fills one pipe before
/// writing the other cannot deadlock it, in either order.
#[test]
fn output_drains_both_pipes_concurrently() {
    let _serial = serial();
    rt(2).block_on(async {
        for script in [
            format!("yes err | head -c {TEN_MIB} >&2; yes out | head -c {TEN_MIB}"),
            format!("yes out | head -c {TEN_MIB}; yes err | head -c {TEN_MIB} >&2"),
        ] {
            let out = bounded("output()", shell(&script).output()).await.unwrap();
            assert!(out.status.success());
            assert!(
                out.stdout == yes_pattern("out", TEN_MIB),
                "stdout of {script}"
            );
            assert!(
                out.stderr == yes_pattern("err", TEN_MIB),
                "stderr of {script}"
            );
        }
    });
}

#[test]
fn stdin_pipe_reaches_the_child_and_close_gives_it_eof() {
    let _serial = serial();
    rt(2).block_on(async {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let input: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let sent = input.clone();
        let writer = weft::spawn(async move {
            write_all(&mut stdin, &sent).await?;
            close(&mut stdin).await
        });
        let echoed = bounded("cat", read_to_end(&mut stdout)).await.unwrap();
        writer.await.unwrap().unwrap();
        assert!(echoed == input);
        assert!(child.wait().await.unwrap().success());
    });
}

/// `wait` closes a stdin the caller still holds in the `Child`, so `cat` ends.
#[test]
fn wait_closes_stdin_first() {
    let _serial = serial();
    rt(1).block_on(async {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        assert!(bounded("wait", child.wait()).await.unwrap().success());
        assert!(child.stdin.is_none());
    });
}

#[test]
fn kill_then_wait_reports_sigkill() {
    let _serial = serial();
    rt(1).block_on(async {
        let mut child = Command::new("sleep").arg("100").spawn().unwrap();
        assert!(child.id().is_some());
        assert!(child.try_wait().unwrap().is_none());
        child.kill().unwrap();
        let status = bounded("wait after kill", child.wait()).await.unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        assert_eq!(child.id(), None);
        // Killing a reaped child is a no-op; waiting again returns the same status.
        child.kill().unwrap();
        assert_eq!(child.wait().await.unwrap(), status);
        assert_eq!(child.try_wait().unwrap(), Some(status));
    });
}

#[test]
fn status_and_exit_codes() {
    let _serial = serial();
    rt(1).block_on(async {
        assert_eq!(shell("exit 0").status().await.unwrap().code(), Some(0));
        assert_eq!(shell("exit 255").status().await.unwrap().code(), Some(255));
        assert_eq!(
            shell("kill -TERM $$").status().await.unwrap().signal(),
            Some(libc::SIGTERM)
        );
    });
}

#[test]
fn a_missing_program_is_not_found() {
    let _serial = serial();
    rt(1).block_on(async {
        let err = Command::new("/definitely/not/a/program")
            .spawn()
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        let err = Command::new("weft-no-such-program-on-path")
            .output()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    });
}

#[test]
fn spawn_outside_a_runtime_is_an_error_and_starts_nothing() {
    let _serial = serial();
    let err = Command::new("true").spawn().unwrap_err();
    assert!(err.to_string().contains("runtime"), "{err}");
}

/// Children dropped before they exit (running or already exited) are reaped by the
/// background reaper: no zombie remains.
#[test]
fn dropped_children_leave_no_zombies() {
    let _serial = serial();
    rt(2).block_on(async {
        for _ in 0..20 {
            drop(Command::new("true").spawn().unwrap());
        }
        for _ in 0..5 {
            drop(shell("sleep 0.2").spawn().unwrap());
        }
        let exited = Command::new("true").spawn().unwrap();
        weft::time::sleep(Duration::from_millis(50)).await;
        drop(exited);
    });
    // The reaper polls every 20 ms; give it (bounded) time.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let zombies = zombie_children();
        if zombies.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "zombies left: {zombies:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // And none of them is still running as our child (`sleep 0.2` ended too).
    let deadline = Instant::now() + Duration::from_secs(10);
    while child_count() > 0 {
        assert!(Instant::now() < deadline, "children still alive");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(zombie_children(), Vec::<u32>::new());
}

fn child_count() -> usize {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            stat.rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().nth(1))
                == Some(me.as_str())
        })
        .count()
}

#[test]
fn env_and_current_dir_reach_the_child() {
    let _serial = serial();
    rt(1).block_on(async {
        let out = Command::new("sh")
            .args(["-c", "echo $A-$B; pwd"])
            .env_clear()
            .env("A", "1")
            .envs([("B", "2")])
            .current_dir("/")
            .output()
            .await
            .unwrap();
        assert_eq!(out.stdout, b"1-2\n/\n");
    });
}

#[test]
fn debug_output_names_the_parts() {
    let _serial = serial();
    rt(1).block_on(async {
        let mut child = Command::new("true").stdout(Stdio::piped()).spawn().unwrap();
        let debug = format!("{child:?}");
        assert!(
            debug.contains("Child") && debug.contains("ChildStdout"),
            "{debug}"
        );
        // Where the kernel offers pidfds, exits are watched through one, not a timer.
        // SAFETY: pidfd_open(own pid, 0) only returns a descriptor, closed right away.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) };
        if fd >= 0 {
            // SAFETY: `fd` was just returned to us and is closed once.
            unsafe { libc::close(fd as i32) };
            assert!(debug.contains("PidFd"), "{debug}");
        }
        child.wait().await.unwrap();
    });
}

/// `output` gives a child that reads stdin an immediate end of input unless stdin was
/// configured (as `std` and tokio do), so `cat` finishes even when the parent's stdin is a
/// terminal or a pipe nobody closes.
#[test]
fn output_gives_an_unconfigured_stdin_its_end_at_once() {
    let _s = serial();
    rt(2).block_on(async {
        let out = weft::time::timeout(Duration::from_secs(20), Command::new("cat").output())
            .await
            .expect("cat waited on the parent's stdin")
            .unwrap();
        assert!(out.status.success());
        assert!(out.stdout.is_empty());
        // Configured stdin is kept: an explicit null is the same, a pipe is a pipe.
        let out = Command::new("cat")
            .stdin(Stdio::null())
            .output()
            .await
            .unwrap();
        assert!(out.status.success() && out.stdout.is_empty());
    });
}

#[test]
fn status_closes_the_pipes_it_does_not_read() {
    let _serial = serial();
    rt(2).block_on(async {
        // The child writes far more than a pipe holds: had `status` kept the read end
        // open, it would block in `write` forever.
        let status = bounded(
            "status with a piped stdout",
            shell("head -c 1000000 /dev/zero; echo done >&2")
                .stdout(Stdio::piped())
                .status(),
        )
        .await
        .unwrap();
        // `head` ends on the closed pipe (SIGPIPE or EPIPE); the shell still exits.
        assert!(status.code().is_some(), "{status:?}");
    });
}

#[test]
fn output_leaves_the_command_as_it_was() {
    let _serial = serial();
    rt(2).block_on(async {
        let mut cmd = shell("head -c 1000000 /dev/zero | wc -c");
        let out = bounded("output", cmd.output()).await.unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1000000");
        // A later spawn gets the default streams again (inherited), not pipes...
        let mut child = cmd.spawn().unwrap();
        assert!(child.stdin.is_none() && child.stdout.is_none() && child.stderr.is_none());
        assert!(bounded("wait", child.wait()).await.unwrap().success());
        // ...and `status` after `output` neither hangs nor sees a closed pipe.
        assert!(bounded("status after output", cmd.status())
            .await
            .unwrap()
            .success());
        // A stream set explicitly stays as `output` left it: piped.
        let mut cmd = shell("echo hi");
        cmd.stdout(Stdio::null());
        let out = bounded("output", cmd.output()).await.unwrap();
        assert_eq!(out.stdout, b"hi\n");
        let mut child = cmd.spawn().unwrap();
        assert!(child.stdout.is_some() && child.stderr.is_none());
        let got = read_to_end(child.stdout.as_mut().unwrap()).await.unwrap();
        assert_eq!(got, b"hi\n");
        assert!(bounded("wait", child.wait()).await.unwrap().success());
    });
}
