// SPDX-License-Identifier: MIT
//! kio-bench-echo-tokio: the Tokio peer of the echo benchmark. A current_thread runtime (one
//! worker, pinned by the script like every server), a task per connection that reads into
//! its own 4 KiB buffer and writes back what it read.
//!
//!   kio-bench-echo-tokio [--port P]
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn main() {
    let port = kio_bench_tokio::port_arg("kio-bench-echo-tokio");
    let rt = kio_bench_tokio::runtime();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let listener = kio_bench_tokio::listen(port);
        let accept = async {
            loop {
                let mut s = match listener.accept().await {
                    Ok((s, _)) => s,
                    Err(_) => continue,
                };
                s.set_nodelay(true).ok();
                tokio::task::spawn_local(async move {
                    let mut buf = [0u8; 4096];
                    loop {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if s.write_all(&buf[..n]).await.is_err() {
                                    break;
                                }
                            }
                        }
                    }
                });
            }
        };
        tokio::select! { _ = accept => {}, _ = kio_bench_tokio::stop_signal() => {} }
    });
    kio_bench_tokio::print_cpu_ns();
}
