use std::fmt;
use std::future::poll_fn;
use std::io;
use std::process::{ExitStatus, Output};
use std::task::{Context, Poll};

use super::exit::ExitWatcher;
use super::pipe::{self, ChildStderr, ChildStdin, ChildStdout};
use super::reaper;

/// A running (or exited, not yet awaited) child process (asyncio's `Process`).
///
/// - Its piped standard streams are the public fields [`stdin`](Self::stdin),
///   [`stdout`](Self::stdout) and [`stderr`](Self::stderr): take them to use them from
///   other tasks.
/// - [`wait`](Self::wait) completes when the child exits, without blocking a worker (a
///   pidfd registered with the driver; see the [module docs](super) for the fallback).
/// - Dropping a `Child` does not kill the process. If it has not been reaped yet, it is
///   handed to a background reaper that collects its exit status once it exits, so no
///   zombie is left behind.
///
/// ```
/// use weft::process::{shell, Stdio};
///
/// # weft::run(async {
/// let child = shell("echo $0; exit 3").stdout(Stdio::piped()).spawn()?;
/// let out = child.wait_with_output().await?;
/// assert_eq!((out.status.code(), &out.stdout[..]), (Some(3), &b"sh\n"[..]));
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
pub struct Child {
    /// The writing end of the child's standard input, if it was piped.
    pub stdin: Option<ChildStdin>,
    /// The reading end of the child's standard output, if it was piped.
    pub stdout: Option<ChildStdout>,
    /// The reading end of the child's standard error, if it was piped.
    pub stderr: Option<ChildStderr>,
    /// `None` only while dropping.
    std: Option<std::process::Child>,
    exit: ExitWatcher,
    /// Set once the child was reaped: from then on its pid may belong to another process.
    status: Option<ExitStatus>,
}

impl Child {
    pub(super) fn from_std(mut std: std::process::Child) -> io::Result<Child> {
        let pipes = (|| {
            let stdin = std.stdin.take().map(ChildStdin::from_std).transpose()?;
            let stdout = std.stdout.take().map(ChildStdout::from_std).transpose()?;
            let stderr = std.stderr.take().map(ChildStderr::from_std).transpose()?;
            io::Result::Ok((stdin, stdout, stderr))
        })();
        let (stdin, stdout, stderr) = match pipes {
            Ok(p) => p,
            Err(e) => {
                // The process runs but cannot be driven: stop it rather than leak it.
                let _ = std.kill();
                reaper::adopt(std);
                return Err(e);
            }
        };
        let exit = ExitWatcher::new(std.id());
        Ok(Child {
            stdin,
            stdout,
            stderr,
            std: Some(std),
            exit,
            status: None,
        })
    }

    fn std(&mut self) -> &mut std::process::Child {
        self.std
            .as_mut()
            .expect("the std child is only taken in drop")
    }

    /// The child's process id, or `None` once it has been reaped (when the id may
    /// already name another process).
    ///
    /// ```
    /// # weft::run(async {
    /// let mut child = weft::process::Command::new("true").spawn()?;
    /// assert!(child.id().is_some());
    /// child.wait().await?;
    /// assert_eq!(child.id(), None);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn id(&self) -> Option<u32> {
        match self.status {
            Some(_) => None,
            None => self.std.as_ref().map(std::process::Child::id),
        }
    }

    /// Waits for the child to exit and returns its status; later calls return the same
    /// status at once.
    ///
    /// Closes [`stdin`](Self::stdin) first (if still held here), as tokio does: a child
    /// that reads its input to the end would otherwise wait for the parent forever.
    /// Output pipes are left alone: read them before (or while) waiting, or use
    /// [`wait_with_output`](Self::wait_with_output), since a child blocked on a full pipe
    /// never exits.
    ///
    /// ```
    /// # weft::run(async {
    /// let mut child = weft::process::shell("exit 4").spawn()?;
    /// assert_eq!(child.wait().await?.code(), Some(4));
    /// assert_eq!(child.wait().await?.code(), Some(4));
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// When `waitpid` fails (someone else reaped the child) or the runtime shut down.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        poll_fn(|cx| self.poll_wait(cx)).await
    }

    /// Poll form of [`wait`](Self::wait) (which does not touch `stdin`).
    ///
    /// ```
    /// # weft::run(async {
    /// let mut child = weft::process::shell("exit 2").spawn()?;
    /// let status = std::future::poll_fn(|cx| child.poll_wait(cx)).await?;
    /// assert_eq!(status.code(), Some(2));
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<ExitStatus>> {
        if let Some(status) = self.status {
            return Poll::Ready(Ok(status));
        }
        let Child { std, exit, .. } = self;
        let std = std.as_mut().expect("the std child is only taken in drop");
        let status = std::task::ready!(exit.poll_exit(cx, || std.try_wait()))?;
        self.status = Some(status);
        Poll::Ready(Ok(status))
    }

    /// The exit status if the child has exited (reaping it), `None` if it still runs.
    /// Never waits.
    ///
    /// ```
    /// # weft::run(async {
    /// let mut child = weft::process::Command::new("sleep").arg("10").spawn()?;
    /// assert!(child.try_wait()?.is_none());
    /// child.kill()?;
    /// # child.wait().await?;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// When `waitpid` fails.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        let status = self.std().try_wait()?;
        self.status = status;
        Ok(status)
    }

    /// Sends `SIGKILL` (does not wait: follow with [`wait`](Self::wait) to reap). Killing
    /// a child that already exited is a no-op.
    ///
    /// ```
    /// use std::os::unix::process::ExitStatusExt;
    /// # weft::run(async {
    /// let mut child = weft::process::Command::new("sleep").arg("10").spawn()?;
    /// child.kill()?;
    /// assert_eq!(child.wait().await?.signal(), Some(9));
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// When `kill` fails.
    pub fn kill(&mut self) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        self.std().kill()
    }

    /// Closes stdin, reads stdout and stderr to the end concurrently (those that were
    /// piped) and waits for the exit (asyncio's `communicate()`).
    ///
    /// ```
    /// use weft::process::{shell, Stdio};
    /// # weft::run(async {
    /// let child = shell("echo a; echo b >&2").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    /// let out = child.wait_with_output().await?;
    /// assert_eq!((&out.stdout[..], &out.stderr[..]), (&b"a\n"[..], &b"b\n"[..]));
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// A read error on a pipe, or as [`wait`](Self::wait).
    pub async fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        let (mut stdout, mut stderr) = (self.stdout.take(), self.stderr.take());
        let (mut out, mut err) = (Vec::new(), Vec::new());
        poll_fn(|cx| {
            let out_done = pipe::poll_drain(&mut stdout, &mut out, cx)?;
            let err_done = pipe::poll_drain(&mut stderr, &mut err, cx)?;
            if out_done.is_ready() && err_done.is_ready() {
                Poll::Ready(io::Result::Ok(()))
            } else {
                Poll::Pending
            }
        })
        .await?;
        let status = self.wait().await?;
        Ok(Output {
            status,
            stdout: out,
            stderr: err,
        })
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Some(std) = self.std.take() {
            if self.status.is_none() {
                reaper::adopt(std);
            }
        }
    }
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("pid", &self.std.as_ref().map(std::process::Child::id))
            .field("status", &self.status)
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .field("exit", &self.exit)
            .finish()
    }
}
