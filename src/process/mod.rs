//! Subprocesses (asyncio's `create_subprocess_exec` / `create_subprocess_shell`).
//!
//! [`Command`] wraps `std::process::Command`; its [`Child`] has async pipes and an
//! awaitable exit:
//!
//! - **Pipes** are the parent's ends of `Stdio::piped()` streams, made non-blocking and
//!   registered with the driver like sockets: [`ChildStdin`] is a
//!   [`futures_io::AsyncWrite`], [`ChildStdout`] and [`ChildStderr`] are
//!   [`futures_io::AsyncRead`]s.
//! - **Exit** is noticed through a pidfd (Linux ≥ 5.3) registered with the driver, so a
//!   waiting task costs no thread and no polling. Where no pidfd can be had (`ENOSYS`,
//!   `EPERM` under seccomp, descriptors exhausted), the waiting task instead checks
//!   `waitpid(WNOHANG)` on a timer (1 ms, doubling to every 50 ms): slower to notice,
//!   never blocking a worker. The environment variable `WEFT_PROCESS_POLL=1`, read at the
//!   first spawn, forces this fallback (to test it, or to compare).
//! - **No zombies**: a [`Child`] dropped before its process was reaped is handed to a
//!   background reaper thread that collects the exit status when it comes.
//! - A program that does not exist is an [`io::ErrorKind::NotFound`](std::io::ErrorKind)
//!   error from [`Command::spawn`], never a panic.
//!
//! ```
//! use weft::process::{shell, Stdio};
//!
//! # weft::run(async {
//! // asyncio: proc = await create_subprocess_shell(cmd, stdout=PIPE, stderr=PIPE)
//! let proc = shell("echo hello; echo oops >&2").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
//! let out = proc.wait_with_output().await?;
//! assert_eq!(out.stdout, b"hello\n");
//! assert_eq!(out.stderr, b"oops\n");
//! assert!(out.status.success());
//! # std::io::Result::Ok(())
//! # }).unwrap();
//! ```

mod child;
mod command;
mod exit;
mod pipe;
mod reaper;

pub use child::Child;
pub use command::Command;
pub use pipe::{ChildStderr, ChildStdin, ChildStdout};
pub use std::process::{ExitStatus, Output, Stdio};

/// A command that runs `cmd` through the shell: `sh -c cmd` (asyncio's
/// `create_subprocess_shell`). Arguments added with [`Command::arg`] become `$0`, `$1`...
///
/// ```
/// # weft::run(async {
/// let out = weft::process::shell("echo $0-$1; exit 3").arg("first").arg("second").output().await?;
/// assert_eq!(out.stdout, b"first-second\n");
/// assert_eq!(out.status.code(), Some(3));
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
pub fn shell(cmd: &str) -> Command {
    let mut command = Command::new("sh");
    command.arg("-c").arg(cmd);
    command
}
