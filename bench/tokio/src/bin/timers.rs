// SPDX-License-Identifier: MIT
//! kio-bench-timers-tokio: the Tokio peer of the timer workload (Tokio's hierarchical timer
//! wheel, 1 ms resolution). N tasks on a current_thread runtime, task i sleeping until its
//! deadline (the same 1-100 ms delays as kio-bench-timers: same generator, same seed), then
//! recording the time it woke. Prints the result lines of kio-bench-timers (bench_timers.h
//! has the definitions): wall_s, arm_ns (spawning the sleeping task, per timer),
//! late_p50_us / late_p99_us / late_max_us (fire time minus deadline), late_run_p50_us /
//! late_run_p99_us / late_run_max_us (fire time minus the later of the deadline and the
//! start of the run), late_floor_p99_us and bytes_per_timer (VmHWM growth / N). A task
//! registers its sleep in the wheel when it is first polled, in the run: that share of
//! arming counts in late_run, not in arm_ns.
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
    // Deadline and fire time per timer (ns since origin): touched before the baseline, so the
    // benchmark's own bookkeeping is not counted as the library's. A task only stores.
    let mut deadline: Vec<i64> = vec![1; n as usize];
    let fire: Rc<RefCell<Vec<i64>>> = Rc::new(RefCell::new(vec![1; n as usize]));
    let last = Rc::new(RefCell::new(origin));
    let before = vm_hwm();
    let t0 = local.block_on(&rt, {
        let fire = fire.clone();
        let last = last.clone();
        let deadline = &mut deadline;
        async move {
            let mut rng = SEED;
            let t0 = Instant::now();
            let mut base = t0;
            for i in 0..n {
                if i % CLOCK_EVERY == 0 {
                    base = Instant::now();
                }
                let d = std::time::Duration::from_nanos(MIN_NS + kio_bench_tokio::rand(&mut rng) % SPAN_NS);
                let at = base + d;
                deadline[i as usize] = (at - origin).as_nanos() as i64;
                let fire = fire.clone();
                let last = last.clone();
                tokio::task::spawn_local(async move {
                    tokio::time::sleep_until(at.into()).await;
                    let now = Instant::now();
                    fire.borrow_mut()[i as usize] = (now - origin).as_nanos() as i64;
                    *last.borrow_mut() = now;
                });
            }
            t0
        }
    });
    // The loop runs from here until every task finished.
    let t_run = Instant::now();
    rt.block_on(local);
    let after = vm_hwm();
    let wall = (*last.borrow() - t0).as_secs_f64();
    let run = (t_run - origin).as_nanos() as i64;
    let fire = fire.borrow();
    let mut late: Vec<i64> = Vec::with_capacity(n as usize);
    let mut late_run: Vec<i64> = Vec::with_capacity(n as usize);
    let mut floor: Vec<i64> = Vec::with_capacity(n as usize);
    for (&d, &f) in deadline.iter().zip(fire.iter()) {
        late.push(f - d);
        late_run.push((f - d.max(run)).max(0));
        floor.push((run - d).max(0));
    }
    // The value of rank n x p, selected in O(n) as bench_timers.h does.
    let q = |v: &mut [i64], p: f64| {
        let k = ((p * n as f64) as usize).min(n as usize - 1);
        *v.select_nth_unstable(k).1 as f64 / 1e3
    };
    emit("wall_s", "s", n, wall);
    let arm_ns = (t_run - t0).as_secs_f64() * 1e9 / n as f64;
    emit("arm_ns", "ns", n, arm_ns);
    emit("late_p50_us", "us", n, q(&mut late, 0.50));
    emit("late_p99_us", "us", n, q(&mut late, 0.99));
    emit("late_max_us", "us", n, q(&mut late, 1.0));
    emit("late_run_p50_us", "us", n, q(&mut late_run, 0.50));
    emit("late_run_p99_us", "us", n, q(&mut late_run, 0.99));
    emit("late_run_max_us", "us", n, q(&mut late_run, 1.0));
    emit("late_floor_p99_us", "us", n, q(&mut floor, 0.99));
    emit("bytes_per_timer", "B", n, (after - before) as f64 / n as f64);
}
