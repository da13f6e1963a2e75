// SPDX-License-Identifier: MIT
//! kio-bench-timers-tokio: the Tokio peer of the timer workload (Tokio's hierarchical timer
//! wheel, 1 ms resolution). N tasks on a current_thread runtime, task i sleeping until its
//! deadline (the same 1-100 ms delays as kio-bench-timers: same generator, same seed), then
//! recording the time it woke. Prints the result lines of kio-bench-timers: wall_s, arm_ns
//! (spawning the sleeping task, per timer), late_p50_us / late_p99_us / late_max_us (fire
//! time minus deadline) and bytes_per_timer (VmHWM growth / N).
//!
//!   kio-bench-timers-tokio [--count N]
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

const MIN_NS: u64 = 1_000_000;
const SPAN_NS: u64 = 99_000_001;
const SEED: u64 = 0x6b696f74696d6572;
/// The clock is read once per this many timers while arming (deadline base).
const CLOCK_EVERY: u64 = 64;

fn vm_hwm() -> i64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        .map_or(-1, |k| k * 1024)
}

fn emit(metric: &str, unit: &str, n: u64, v: f64) {
    println!(
        "{{\"workload\":\"timers\",\"impl\":\"tokio\",\"params\":{{\"timers\":{n}}},\"metric\":\"{metric}\",\"unit\":\"{unit}\",\"higher_is_better\":false,\"runs\":[{v}],\"median\":{v},\"min\":{v},\"max\":{v},\"note\":\"tokio::time::sleep_until in a task each (timer wheel)\"}}"
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: u64 = match args.as_slice() {
        [] => 100_000,
        [o, v] if o == "--count" => v.parse().unwrap_or(0),
        _ => 0,
    };
    if n == 0 {
        eprintln!("usage: kio-bench-timers-tokio [--count N]");
        std::process::exit(2);
    }
    let rt = kio_bench_tokio::runtime();
    let local = tokio::task::LocalSet::new();
    let origin = Instant::now();
    // Deadline, then lateness, per timer (ns since origin): touched before the baseline, so
    // the benchmark's own bookkeeping is not counted as the library's.
    let slots: Rc<RefCell<Vec<i64>>> = Rc::new(RefCell::new(vec![1; n as usize]));
    let last = Rc::new(RefCell::new(origin));
    let before = vm_hwm();
    let (arm_s, t0) = local.block_on(&rt, {
        let slots = slots.clone();
        let last = last.clone();
        async move {
            let mut rng = SEED;
            let t0 = Instant::now();
            let mut base = t0;
            for i in 0..n {
                if i % CLOCK_EVERY == 0 {
                    base = Instant::now();
                }
                let d = std::time::Duration::from_nanos(MIN_NS + kio_bench_tokio::rand(&mut rng) % SPAN_NS);
                let deadline = base + d;
                slots.borrow_mut()[i as usize] = (deadline - origin).as_nanos() as i64;
                let slots = slots.clone();
                let last = last.clone();
                tokio::task::spawn_local(async move {
                    tokio::time::sleep_until(deadline.into()).await;
                    let now = Instant::now();
                    let mut s = slots.borrow_mut();
                    s[i as usize] = (now - origin).as_nanos() as i64 - s[i as usize];
                    *last.borrow_mut() = now;
                });
            }
            (t0.elapsed().as_secs_f64(), t0)
        }
    });
    // Run until every task finished.
    rt.block_on(local);
    let after = vm_hwm();
    let wall = (*last.borrow() - t0).as_secs_f64();
    let mut late: Vec<i64> = slots.borrow().clone();
    late.sort_unstable();
    let q = |p: f64| late[((p * n as f64) as usize).min(n as usize - 1)] as f64 / 1e3;
    emit("wall_s", "s", n, wall);
    emit("arm_ns", "ns", n, arm_s * 1e9 / n as f64);
    emit("late_p50_us", "us", n, q(0.50));
    emit("late_p99_us", "us", n, q(0.99));
    emit("late_max_us", "us", n, late[n as usize - 1] as f64 / 1e3);
    emit("bytes_per_timer", "B", n, (after - before) as f64 / n as f64);
}
