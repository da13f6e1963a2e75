// SPDX-License-Identifier: MIT
//! What the Tokio peers share with the C programs: the server's command line and its
//! "port N" / "cpu_ns N" protocol (bench/README.md), and the fixed-seed generator.

use std::net::SocketAddr;

/// `--port P` (0: any free port), the only option the servers take.
pub fn port_arg(prog: &str) -> u16 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => 0,
        [opt, v] if opt == "--port" => v.parse().unwrap_or_else(|_| usage(prog)),
        _ => usage(prog),
    }
}

fn usage(prog: &str) -> ! {
    eprintln!("usage: {prog} [--port P]");
    std::process::exit(2);
}

/// A current_thread runtime: one worker, like every other server measured.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Binds 127.0.0.1:port with a deep backlog (10,000 connections arrive at once in the
/// memory point) and prints "port N".
pub fn listen(port: u16) -> tokio::net::TcpListener {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let sock = tokio::net::TcpSocket::new_v4().expect("socket");
    sock.set_reuseaddr(true).expect("SO_REUSEADDR");
    sock.bind(addr).expect("bind");
    let l = sock.listen(4096).expect("listen");
    println!("port {}", l.local_addr().expect("local_addr").port());
    println!("backend tokio");
    use std::io::Write;
    std::io::stdout().flush().ok();
    l
}

/// Waits for SIGINT or SIGTERM.
pub async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT");
    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
}

/// Prints "cpu_ns N": user+system CPU time of the process (getrusage), as the C servers do.
pub fn print_cpu_ns() {
    let t = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields 14 and 15 (utime, stime, clock ticks) follow the command name in parentheses.
    let rest = t.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest.split_whitespace().filter_map(|s| s.parse().ok()).collect();
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    println!("cpu_ns {}", ticks * 10_000_000);
}

/// xorshift64*, the generator of bench_util.h: the same delays as the C programs.
pub fn rand(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545F4914F6CDD1D)
}
