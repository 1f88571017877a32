use std::ffi::OsStr;
use std::fmt;
use std::future::Future;
use std::io;
use std::path::Path;
use std::process::{ExitStatus, Output, Stdio};

use super::Child;

/// A process to start: `std::process::Command`, whose child is awaited instead of
/// blocked on (asyncio's `create_subprocess_exec`).
///
/// Builder methods take and return `&mut Command`, as `std`'s do. By default the child
/// inherits the parent's standard streams; ask for [`Stdio::piped`] to get async pipes in
/// [`Child::stdin`], [`Child::stdout`] and [`Child::stderr`].
///
/// ```
/// use weft::process::Command;
///
/// # weft::run(async {
/// let out = Command::new("echo").arg("hello").output().await?;
/// assert!(out.status.success());
/// assert_eq!(out.stdout, b"hello\n");
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
pub struct Command {
    std: std::process::Command,
    /// Whether [`stdin`](Command::stdin) was called: if not, [`output`](Command::output)
    /// gives the child a null stdin, as `std` and tokio do.
    stdin_set: bool,
    /// Whether [`stdout`](Command::stdout) and [`stderr`](Command::stderr) were called:
    /// if not, [`output`](Command::output) sets them back to the default (inherit) after
    /// its spawn, so it leaves the command as it found it.
    stdout_set: bool,
    stderr_set: bool,
}

impl Command {
    /// A command running `program` (looked up in `PATH` when it has no `/`).
    ///
    /// ```
    /// let cmd = weft::process::Command::new("ls");
    /// ```
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command {
            std: std::process::Command::new(program),
            stdin_set: false,
            stdout_set: false,
            stderr_set: false,
        }
    }

    /// Appends an argument.
    ///
    /// ```
    /// weft::process::Command::new("ls").arg("-l").arg("/");
    /// ```
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.std.arg(arg);
        self
    }

    /// Appends arguments.
    ///
    /// ```
    /// weft::process::Command::new("ls").args(["-l", "/"]);
    /// ```
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.std.args(args);
        self
    }

    /// Sets an environment variable for the child.
    ///
    /// ```
    /// # weft::run(async {
    /// let out = weft::process::shell("echo $GREETING").env("GREETING", "hi").output().await?;
    /// assert_eq!(out.stdout, b"hi\n");
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn env(&mut self, key: impl AsRef<OsStr>, val: impl AsRef<OsStr>) -> &mut Command {
        self.std.env(key, val);
        self
    }

    /// Sets several environment variables.
    ///
    /// ```
    /// weft::process::Command::new("env").envs([("A", "1"), ("B", "2")]);
    /// ```
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.std.envs(vars);
        self
    }

    /// Removes an environment variable from the child's environment.
    ///
    /// ```
    /// weft::process::Command::new("env").env_remove("HOME");
    /// ```
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.std.env_remove(key);
        self
    }

    /// Starts the child with an empty environment (plus what [`env`](Self::env) adds).
    ///
    /// ```
    /// # weft::run(async {
    /// let out = weft::process::Command::new("/usr/bin/env").env_clear().env("ONLY", "me").output().await?;
    /// assert_eq!(out.stdout, b"ONLY=me\n");
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn env_clear(&mut self) -> &mut Command {
        self.std.env_clear();
        self
    }

    /// Sets the child's working directory.
    ///
    /// ```
    /// # weft::run(async {
    /// let out = weft::process::Command::new("pwd").current_dir("/").output().await?;
    /// assert_eq!(out.stdout, b"/\n");
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.std.current_dir(dir);
        self
    }

    /// Configures the child's standard input ([`Stdio::piped`] for
    /// [`Child::stdin`]).
    ///
    /// ```
    /// use weft::process::{Command, Stdio};
    /// Command::new("cat").stdin(Stdio::null());
    /// ```
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdin(cfg);
        self.stdin_set = true;
        self
    }

    /// Configures the child's standard output ([`Stdio::piped`] for
    /// [`Child::stdout`]).
    ///
    /// ```
    /// use weft::process::{Command, Stdio};
    /// Command::new("ls").stdout(Stdio::piped());
    /// ```
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdout(cfg);
        self.stdout_set = true;
        self
    }

    /// Configures the child's standard error ([`Stdio::piped`] for
    /// [`Child::stderr`]).
    ///
    /// ```
    /// use weft::process::{Command, Stdio};
    /// Command::new("ls").stderr(Stdio::null());
    /// ```
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stderr(cfg);
        self.stderr_set = true;
        self
    }

    /// The underlying `std` command, for settings weft does not wrap
    /// (`std::os::unix::process::CommandExt`: `uid`, `process_group`, `pre_exec`...).
    ///
    /// ```
    /// use std::os::unix::process::CommandExt;
    /// let mut cmd = weft::process::Command::new("true");
    /// cmd.as_std_mut().process_group(0);
    /// ```
    pub fn as_std_mut(&mut self) -> &mut std::process::Command {
        &mut self.std
    }

    /// The program this command runs.
    ///
    /// ```
    /// assert_eq!(weft::process::Command::new("ls").get_program(), "ls");
    /// ```
    pub fn get_program(&self) -> &OsStr {
        self.std.get_program()
    }

    /// Starts the child. Must be called inside a runtime: its pipes and its exit
    /// notification register with the current worker's driver.
    ///
    /// ```
    /// # weft::run(async {
    /// let mut child = weft::process::Command::new("true").spawn()?;
    /// assert!(child.wait().await?.success());
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`io::ErrorKind::NotFound`] when the program does not exist,
    /// [`io::ErrorKind::PermissionDenied`] when it is not executable, other OS errors
    /// (out of processes or descriptors), or one saying no runtime is running.
    pub fn spawn(&mut self) -> io::Result<Child> {
        if crate::Handle::try_current().is_none() {
            return Err(io::Error::other(
                "weft::process::Command::spawn needs a weft runtime: call it from inside weft::run, Runtime::block_on or a task",
            ));
        }
        Child::from_std(self.std.spawn()?)
    }

    /// Runs the child to completion and collects its output (asyncio's
    /// `communicate()`). Standard output and error are always piped (as in tokio) and
    /// read concurrently, so a child filling one pipe while the parent waits on the other
    /// cannot deadlock. Standard input is as configured, and null if it was not (as in
    /// `std` and tokio: a child that reads stdin sees its end at once, rather than
    /// waiting on the parent's terminal).
    ///
    /// The child starts when `output` is called; the returned future owns it and does not
    /// borrow the `Command`. The command is left as it was for later spawns, except a
    /// standard output or error set explicitly with [`stdout`](Self::stdout) or
    /// [`stderr`](Self::stderr): that one stays piped (a [`Stdio`] cannot be copied back).
    ///
    /// ```
    /// # weft::run(async {
    /// let out = weft::process::shell("echo out; echo err >&2; exit 3").output().await?;
    /// assert_eq!(out.status.code(), Some(3));
    /// assert_eq!((&out.stdout[..], &out.stderr[..]), (&b"out\n"[..], &b"err\n"[..]));
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn), or a read error on a pipe.
    pub fn output(&mut self) -> impl Future<Output = io::Result<Output>> + Send + 'static {
        self.std.stdout(Stdio::piped());
        self.std.stderr(Stdio::piped());
        if !self.stdin_set {
            self.std.stdin(Stdio::null());
        }
        let child = self.spawn();
        // What `output` changed and the caller had not set goes back to the default.
        if !self.stdout_set {
            self.std.stdout(Stdio::inherit());
        }
        if !self.stderr_set {
            self.std.stderr(Stdio::inherit());
        }
        if !self.stdin_set {
            self.std.stdin(Stdio::inherit());
        }
        async move { child?.wait_with_output().await }
    }

    /// Runs the child to completion and returns its exit status. Its standard streams
    /// are as configured (inherited by default). Streams configured as
    /// [`Stdio::piped`] are closed on this side before the wait, as nothing would read
    /// or write them: the child sees end of input, and a write to a closed pipe fails
    /// (`EPIPE`, or `SIGPIPE` unless it ignores it), rather than filling the pipe and
    /// blocking forever.
    ///
    /// ```
    /// # weft::run(async {
    /// let status = weft::process::shell("exit 7").status().await?;
    /// assert_eq!(status.code(), Some(7));
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn).
    pub fn status(&mut self) -> impl Future<Output = io::Result<ExitStatus>> + Send + 'static {
        let child = self.spawn();
        async move {
            let mut child = child?;
            drop((child.stdin.take(), child.stdout.take(), child.stderr.take()));
            child.wait().await
        }
    }
}

impl From<std::process::Command> for Command {
    /// The converted command's stdin counts as configured (`std` gives no way to ask), so
    /// `output` keeps whatever it is.
    fn from(std: std::process::Command) -> Command {
        Command {
            std,
            stdin_set: true,
            stdout_set: true,
            stderr_set: true,
        }
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.std.fmt(f)
    }
}
