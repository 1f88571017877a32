//! The asyncio docs' `create_subprocess_shell` example: run a shell command with its
//! stdout and stderr piped, wait for it, print what it wrote.
//!
//! ```sh
//! cargo run --release --example subprocess                       # runs `ls /; echo done >&2`
//! cargo run --release --example subprocess -- 'echo hi; exit 3'
//! ```

use std::io;

use weft::process::{shell, Stdio};

/// asyncio: `proc = await create_subprocess_shell(cmd, stdout=PIPE, stderr=PIPE)`,
/// `stdout, stderr = await proc.communicate()`.
async fn run(cmd: &str) -> io::Result<i32> {
    let proc = shell(cmd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let pid = proc.id().unwrap_or_default();
    let out = proc.wait_with_output().await?;

    let code = out.status.code().unwrap_or(-1);
    println!("[{cmd:?} (pid {pid}) exited with {}]", out.status);
    if !out.stdout.is_empty() {
        println!("[stdout]\n{}", String::from_utf8_lossy(&out.stdout));
    }
    if !out.stderr.is_empty() {
        println!("[stderr]\n{}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(code)
}

fn main() -> io::Result<()> {
    let cmd = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ls /; echo done >&2".to_string());
    weft::run(async {
        // Several at once, as asyncio.gather would run them.
        let (first, second) = weft::join!(run(&cmd), run("echo second command; exit 3"));
        println!("exit codes: {}, {}", first?, second?);
        Ok(())
    })
}
