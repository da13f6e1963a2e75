// SPDX-License-Identifier: MIT
//! kio-bench-http-tokio: the Tokio peer of the HTTP benchmark: the keep-alive "hello"
//! server of http_response.h (a request ends at the first blank line; pipelined requests
//! are answered in one write), a task per connection on a current_thread runtime.
//!
//!   kio-bench-http-tokio [--port P]
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nhello\n";

/// Complete requests at the front of buf, and the bytes they take.
fn complete(buf: &[u8]) -> (usize, usize) {
    let (mut count, mut done) = (0, 0);
    while let Some(p) = buf[done..].windows(4).position(|w| w == b"\r\n\r\n") {
        done += p + 4;
        count += 1;
    }
    (count, done)
}

fn main() {
    let port = kio_bench_tokio::port_arg("kio-bench-http-tokio");
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
                    let mut buf = vec![0u8; 8192];
                    let mut out = Vec::new();
                    let mut have = 0;
                    loop {
                        let n = match s.read(&mut buf[have..]).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        have += n;
                        let (count, used) = complete(&buf[..have]);
                        if count == 0 && have == buf.len() {
                            break; // a header larger than the buffer
                        }
                        buf.copy_within(used..have, 0);
                        have -= used;
                        let w = if count == 1 {
                            s.write_all(RESPONSE).await
                        } else if count > 1 {
                            out.clear();
                            for _ in 0..count {
                                out.extend_from_slice(RESPONSE);
                            }
                            s.write_all(&out).await
                        } else {
                            Ok(())
                        };
                        if w.is_err() {
                            break;
                        }
                    }
                });
            }
        };
        tokio::select! { _ = accept => {}, _ = kio_bench_tokio::stop_signal() => {} }
    });
    kio_bench_tokio::print_cpu_ns();
}
