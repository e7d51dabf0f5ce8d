//! Helpers for the end-to-end tests: run the real `cfsim` binary as a child process and read
//! what it logs, with every wait bounded so a broken build fails instead of hanging.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running `cfsim` child process; killed on drop.
pub struct Cfsim {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl Cfsim {
    /// Starts `cfsim <args>` with logs on stderr.
    pub fn start(args: &[&str]) -> Cfsim {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cfsim"))
            .args(args)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn cfsim");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Cfsim {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a log line containing `needle` and returns it.
    pub fn wait_for_line(&mut self, needle: &str) -> String {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(10)) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no log line containing {needle:?}; saw:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Waits for `Listening for client connections on HOST:PORT` and returns HOST:PORT.
    pub fn client_addr(&mut self) -> String {
        let line = self.wait_for_line("Listening for client connections on ");
        let addr = line
            .rsplit(' ')
            .next()
            .expect("address at the end of the line");
        addr.trim().to_string()
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("cfsim did not exit within 5 s of SIGTERM");
    }
}

impl Drop for Cfsim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads the INFO line a NATS server sends on accept and returns its JSON.
pub fn read_info(addr: &str) -> serde_json::Value {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to the broker");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n") {
        stream.read_exact(&mut byte).expect("read INFO");
        buf.push(byte[0]);
    }
    let line = String::from_utf8(buf).expect("utf-8 INFO");
    let json = line.strip_prefix("INFO ").expect("INFO first").trim_end();
    serde_json::from_str(json).expect("INFO JSON")
}
