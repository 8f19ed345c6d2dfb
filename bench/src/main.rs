//! `berth-bench`: Berth side by side with the docker CLI (and the raw Engine API floor) on the
//! same container workloads, in the same run, trials interleaved so machine noise hits all alike.
//!
//! ```sh
//! cargo run --release -p berth-bench -- --write docs/BENCHMARKS.md   # full
//! cargo run --release -p berth-bench -- --quick                      # smoke
//! ```
//!
//! Long on purpose: the sections share the settings, the context and the report, and read top to
//! bottom in the order they run and are reported; what they measure with lives in the modules.

mod berth;
mod cli;
mod consume;
mod floor;
mod procstat;
mod report;
mod stats;

use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use berth_server::engine::Engine;
use tokio::runtime::Runtime;

use berth::{Berth, Reading};
use cli::Out;
use report::{Report, Row};
use stats::{median, mib, ms, percentile};

const FIXTURE: &str = "berth-fixture:latest";
/// On every container of the benchmark (both sides alike), so clean-up finds them all.
const LABEL: &str = "berth-bench=1";
const MIB: u64 = 1024 * 1024;
/// Streaming workloads run without the daemon's log file: with the default json-file driver
/// dockerd's logger, not the attach stream, bounds both sides (about 0.8 MiB/s of short lines
/// on the benchmark machine), which would measure the logger instead of the streaming path.
const STREAMING: &[&str] = &["--rm", "--log-driver", "none"];
/// Berth's default `--output-limit`.
const DEFAULT_LIMIT: usize = 8 * 1024 * 1024;

struct Settings {
    quick: bool,
    /// Overrides every section's number of trials.
    trials: Option<usize>,
    write: Option<PathBuf>,
    only: Option<Vec<String>>,
}

impl Settings {
    fn parse() -> Settings {
        let mut s = Settings {
            quick: false,
            trials: None,
            write: None,
            only: None,
        };
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            match a.as_str() {
                "--quick" => s.quick = true,
                "--trials" => {
                    s.trials = Some(
                        args.next()
                            .and_then(|n| n.parse().ok())
                            .expect("--trials N"),
                    );
                }
                "--write" => s.write = Some(args.next().expect("--write PATH").into()),
                "--only" => {
                    let list = args.next().expect("--only a,b,…");
                    s.only = Some(list.split(',').map(str::to_string).collect());
                }
                "-h" | "--help" => {
                    println!(
                        "berth-bench [--quick] [--trials N] [--write docs/BENCHMARKS.md] \
                         [--only latency,ttfb,throughput,slow,concurrency,fanout]"
                    );
                    std::process::exit(0);
                }
                other => panic!("unknown argument {other}"),
            }
        }
        s
    }

    fn wants(&self, section: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|s| s == section))
    }

    /// Full or quick.
    fn pick<T>(&self, full: T, quick: T) -> T {
        if self.quick { quick } else { full }
    }

    /// A section's number of trials, full or quick, unless `--trials` says.
    fn trials(&self, full: usize, quick: usize) -> usize {
        self.trials.unwrap_or(self.pick(full, quick))
    }
}

/// What every section needs.
struct Ctx {
    settings: Settings,
    binary: PathBuf,
    rt: Runtime,
    engine: Engine,
}

fn main() {
    let settings = Settings::parse();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf();
    eprintln!("building the gateway: cargo build --release -p berth-server");
    let built = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "-p", "berth-server"])
        .current_dir(&root)
        .status()
        .expect("cargo runs");
    assert!(built.success(), "building berth failed");
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let binary = target.join("release").join("berth");

    let version = cli::quiet(&[
        "version",
        "--format",
        "{{.Server.Version}} (API {{.Server.APIVersion}})",
    ]);
    assert!(
        !version.is_empty(),
        "no Docker engine answers: run scripts/testbed.sh"
    );
    assert!(
        !cli::quiet(&["image", "inspect", "--format", "{{.Id}}", FIXTURE]).is_empty(),
        "the fixture image {FIXTURE} is missing: run scripts/testbed.sh"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let engine = Engine::new("unix:///var/run/docker.sock").expect("engine");
    rt.block_on(engine.ping())
        .expect("the engine answers a ping");

    let mut report = Report::new(&settings.quick, &version);
    let ctx = Ctx {
        settings,
        binary,
        rt,
        engine,
    };
    clean_up();
    if ctx.settings.wants("latency") {
        latency(&ctx, &mut report);
    }
    if ctx.settings.wants("ttfb") {
        first_byte(&ctx, &mut report);
    }
    if ctx.settings.wants("throughput") {
        throughput(&ctx, &mut report);
    }
    if ctx.settings.wants("slow") {
        slow_consumer(&ctx, &mut report);
    }
    if ctx.settings.wants("concurrency") {
        concurrency(&ctx, &mut report);
    }
    if ctx.settings.wants("fanout") {
        fan_out(&ctx, &mut report);
    }
    clean_up();
    report.finish();
    println!("{}", report.table());
    if let Some(path) = &ctx.settings.write {
        report.write(path).expect("write the report");
        eprintln!("wrote {}", path.display());
    }
}

/// Removes every container a benchmark made (all carry `LABEL`).
fn clean_up() {
    let ids = cli::quiet(&["ps", "-aq", "--filter", &format!("label={LABEL}")]);
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if !ids.is_empty() {
        let mut args = vec!["rm", "-f"];
        args.extend(ids);
        cli::quiet(&args);
    }
}

/// `docker run` arguments of a workload: `--label LABEL` then `rest`, the same for all sides.
fn workload(prefix: &[&'static str], rest: &[&'static str]) -> Vec<&'static str> {
    let mut v = prefix.to_vec();
    v.extend(["--label", LABEL, FIXTURE]);
    v.extend(rest);
    v
}

fn cli_run_args(argv: &[&'static str]) -> Vec<&'static str> {
    let mut v = vec!["run"];
    v.extend(argv);
    v
}

fn pipe() -> Out {
    Out::Pipe {
        slow: None,
        fingerprint: false,
    }
}

/// Prints progress so a long run shows it is alive.
fn progress(section: &str, trial: usize, of: usize) {
    eprint!("\r{section}: trial {}/{of}   ", trial + 1);
    if trial + 1 == of {
        eprintln!();
    }
}

/// One interleaved round of a short workload: through Berth, the docker CLI and the Engine API
/// floor, each checked to have exited 0 with `bytes` of output.
fn one_round(
    ctx: &Ctx,
    berth: &Berth,
    argv: &[&'static str],
    bytes: u64,
) -> (berth::Session, cli::CliRun, floor::FloorRun) {
    let s = ctx
        .rt
        .block_on(berth::run(&berth.target(), argv, Reading::default()));
    assert_eq!(s.exit_code, Some(0), "berth run failed: {:?}", s.error);
    assert_eq!(s.consumer.total, bytes);
    let cli = cli::docker(&cli_run_args(argv), pipe(), None, None);
    assert!(
        cli.reaped.success && cli.consumer.total == bytes,
        "docker run failed"
    );
    let fl = ctx
        .rt
        .block_on(floor::run(&ctx.engine, argv))
        .expect("floor run");
    assert_eq!(fl.exit_code, 0, "floor run failed");
    (s, cli, fl)
}

fn latency(ctx: &Ctx, report: &mut Report) {
    let berth = Berth::start(&ctx.binary, DEFAULT_LIMIT);
    let argv = workload(&["--rm"], &["echo", "hi"]);
    let trials = ctx.settings.trials(25, 3);
    let (mut b, mut c, mut f) = (Vec::new(), Vec::new(), Vec::new());
    // One untimed round of each warms the page cache, the daemon and Berth's connection pool.
    for trial in 0..=trials {
        let (s, cli, fl) = one_round(ctx, &berth, &argv, 3);
        if trial > 0 {
            b.push(ms(s.to_exit.expect("exit")));
            c.push(ms(cli.elapsed));
            f.push(ms(fl.elapsed));
            progress("run latency", trial - 1, trials);
        }
    }
    report.add(Row::lower_is_better(
        "1. Run latency (request → exit event), median",
        median(&b),
        median(&c),
        Some(median(&f)),
        "ms",
        Some(0.9),
        &argv,
    ));
    let spread = |v: &[f64]| {
        format!(
            "{:.1}/{:.1}/{:.1}",
            percentile(v, 10.0),
            median(v),
            percentile(v, 90.0)
        )
    };
    report.detail(format!(
        "Run latency over {trials} trials (ms): Berth p10/p50/p90 {}; docker CLI {}; Engine API \
         floor {}. Berth peak RSS {:.1} MiB.",
        spread(&b),
        spread(&c),
        spread(&f),
        mib(berth.rss().1),
    ));
}

fn first_byte(ctx: &Ctx, report: &mut Report) {
    let berth = Berth::start(&ctx.binary, DEFAULT_LIMIT);
    let argv = workload(&["--rm"], &["sh", "-c", "echo hi; sleep 0.2"]);
    let trials = ctx.settings.trials(15, 3);
    let (mut b, mut c, mut f) = (Vec::new(), Vec::new(), Vec::new());
    for trial in 0..=trials {
        let (s, cli, fl) = one_round(ctx, &berth, &argv, 3);
        if trial > 0 {
            b.push(ms(s.consumer.first_byte.expect("output")));
            c.push(ms(cli.consumer.first_byte.expect("output")));
            f.push(ms(fl.consumer.first_byte.expect("output")));
            progress("first byte", trial - 1, trials);
        }
    }
    report.add(Row::lower_is_better(
        "2. Time to first output byte, median",
        median(&b),
        median(&c),
        Some(median(&f)),
        "ms",
        None,
        &argv,
    ));
}

fn throughput(ctx: &Ctx, report: &mut Report) {
    let (large, small) = ctx.settings.pick((1024, 256), (128, 32));
    let large_count: &'static str = if ctx.settings.quick {
        "count=128"
    } else {
        "count=1024"
    };
    let small_cmd: &'static str = if ctx.settings.quick {
        "yes | head -c 33554432"
    } else {
        "yes | head -c 268435456"
    };
    let workloads = [
        (
            format!("3a. Throughput, {large} MiB of 1 MiB writes (dd), median"),
            workload(STREAMING, &["dd", "if=/dev/zero", "bs=1M", large_count]),
            large * MIB,
        ),
        (
            format!("3b. Throughput, {small} MiB of 2-byte lines (yes | head -c), median"),
            workload(STREAMING, &["sh", "-c", small_cmd]),
            small * MIB,
        ),
    ];
    let trials = ctx.settings.trials(5, 1);
    let (mut cli_peak, mut peak) = (0, 0);
    for (name, argv, size) in workloads {
        let (mut b, mut c, mut f) = (Vec::new(), Vec::new(), Vec::new());
        let (mut b_cpu, mut c_cpu, mut k_cpu) = (Vec::new(), Vec::new(), Vec::new());
        for trial in 0..trials {
            // A fresh gateway per trial: a finished run keeps its last `--output-limit` bytes
            // for late watchers, so one gateway's peak would add up the runs before it.
            let berth = Berth::start(&ctx.binary, DEFAULT_LIMIT);
            let client_cpu = procstat::cpu(std::process::id()).unwrap_or_default();
            let s = ctx
                .rt
                .block_on(berth::run(&berth.target(), &argv, Reading::default()));
            let client_cpu = procstat::cpu(std::process::id()).unwrap_or_default() - client_cpu;
            k_cpu.push(client_cpu.as_secs_f64() * 1000.0);
            peak = peak.max(berth.rss().1);
            b_cpu.push(berth.cpu().as_secs_f64() * 1000.0);
            drop(berth);
            assert_eq!(s.exit_code, Some(0), "berth run failed: {:?}", s.error);
            assert!(
                s.consumer.total >= size,
                "berth delivered {} bytes",
                s.consumer.total
            );
            b.push(mib(s.consumer.total) / s.to_exit.expect("exit").as_secs_f64());
            let cli = cli::docker(&cli_run_args(&argv), Out::Null, None, None);
            assert!(cli.reaped.success, "docker run failed");
            cli_peak = cli_peak.max(cli.reaped.max_rss);
            c_cpu.push(cli.reaped.cpu.as_secs_f64() * 1000.0);
            c.push(mib(size) / cli.elapsed.as_secs_f64());
            let fl = ctx
                .rt
                .block_on(floor::run(&ctx.engine, &argv))
                .expect("floor run");
            assert!(fl.consumer.total >= size);
            f.push(mib(fl.consumer.total) / fl.elapsed.as_secs_f64());
            progress(&name, trial, trials);
        }
        report.add(Row::higher_is_better(
            &name,
            median(&b),
            median(&c),
            Some(median(&f)),
            "MiB/s",
            Some(0.95),
            &argv,
        ));
        report.detail(format!(
            "{name}: CPU time per run (median), Berth process {:.0} ms (its whole life, start-up \
             included) plus {:.0} ms in the WebSocket client reading it; docker CLI process \
             {:.0} ms writing to /dev/null; for {} MiB.",
            median(&b_cpu),
            median(&k_cpu),
            median(&c_cpu),
            size / MIB,
        ));
    }
    report.add(Row {
        name: "3c. Berth peak RSS while streaming (largest of the throughput runs)".into(),
        berth: format!("{:.1} MiB", mib(peak)),
        cli: format!("{:.1} MiB (the CLI process)", mib(cli_peak)),
        ratio: Some(peak as f64 / cli_peak as f64),
        target: "≤ 64 MiB".into(),
        met: Some(peak <= 64 * MIB),
        floor: "—".into(),
        command: "VmHWM of the berth process; ru_maxrss of docker".into(),
    });
}

/// Polls `GET /api/runs` for the newest run's id.
fn newest_run(berth: &Berth) -> String {
    for _ in 0..500 {
        if let Some(body) = berth.get("/api/runs")
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&body)
            && let Some(id) = v
                .as_array()
                .and_then(|a| a.first())
                .and_then(|r| r["run_id"].as_str())
        {
            return id.to_string();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("no run appeared");
}

fn slow_consumer(ctx: &Ctx, report: &mut Report) {
    let berth = Berth::start(&ctx.binary, DEFAULT_LIMIT);
    let size = ctx.settings.pick(256, 64) * MIB;
    let count: &'static str = if ctx.settings.quick {
        "count=1024"
    } else {
        "count=4096"
    };
    let argv = workload(STREAMING, &["dd", "if=/dev/zero", "bs=64k", count]);
    let slow_for = Duration::from_secs(ctx.settings.pick(4, 2));
    let primary_rate = 8.0 * MIB as f64;
    let watcher_rate = 2.0 * MIB as f64;

    let t0 = Instant::now();
    let primary = ctx.rt.spawn({
        let (to, argv) = (berth.target(), argv.clone());
        async move {
            let reading = Reading {
                slow: Some((primary_rate, slow_for)),
                fingerprint: false,
            };
            berth::run(&to, &argv, reading).await
        }
    });
    let run_id = newest_run(&berth);
    let watcher = ctx.rt.spawn({
        let (to, run_id) = (berth.target(), run_id.clone());
        async move {
            let reading = Reading {
                slow: Some((watcher_rate, slow_for)),
                fingerprint: false,
            };
            berth::watch(&to, &run_id, reading, None).await
        }
    });
    // (seconds, RSS, bytes the container has produced so far)
    let mut samples: Vec<(f64, u64, u64)> = Vec::new();
    while !primary.is_finished() {
        let produced = berth
            .get(&format!("/api/runs/{run_id}"))
            .and_then(|b| serde_json::from_str::<serde_json::Value>(&b).ok())
            .and_then(|v| v["output_bytes"].as_u64())
            .unwrap_or(0);
        samples.push((t0.elapsed().as_secs_f64(), berth.rss().0, produced));
        std::thread::sleep(Duration::from_millis(100));
    }
    let p = ctx.rt.block_on(primary).expect("primary");
    let w = ctx.rt.block_on(watcher).expect("watcher");
    assert_eq!(p.exit_code, Some(0), "slow run failed: {:?}", p.error);
    let (_, berth_peak) = berth.rss();
    let in_slow_phase: Vec<&(f64, u64, u64)> = samples
        .iter()
        .filter(|s| s.0 < slow_for.as_secs_f64() - 0.2)
        .collect();
    let produced_in_slow = in_slow_phase.last().map_or(0, |s| s.2);

    let cli = cli::docker(
        &cli_run_args(&argv),
        Out::Pipe {
            slow: Some((primary_rate, slow_for)),
            fingerprint: false,
        },
        Some(Duration::from_millis(100)),
        None,
    );
    assert!(cli.reaped.success, "docker run failed");
    report.add(Row {
        name: format!(
            "4. Slow consumer ({} MiB, client reads 8 MiB/s for {} s), peak RSS",
            size / MIB,
            slow_for.as_secs()
        ),
        berth: format!("{:.1} MiB", mib(berth_peak)),
        cli: format!("{:.1} MiB (the CLI process)", mib(cli.reaped.max_rss)),
        ratio: Some(berth_peak as f64 / cli.reaped.max_rss as f64),
        target: "bounded (≤ 64 MiB)".into(),
        met: Some(berth_peak <= 64 * MIB && p.gap_events == 0 && p.consumer.total >= size),
        floor: "—".into(),
        command: report::command(&argv),
    });
    let series = |s: &[(f64, u64, u64)]| {
        s.iter()
            .step_by(5)
            .map(|(t, rss, produced)| {
                format!(
                    "{t:.1}s {:.1} MiB ({:.0} MiB out)",
                    mib(*rss),
                    mib(*produced)
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    report.detail(format!(
        "Slow consumer: Berth's `--output-limit` is {} MiB. After {:.1} s of the starting client \
         reading at 8 MiB/s the container had produced only {:.1} MiB (unthrottled it writes \
         {} MiB in about a second): it was back-pressured. The starting client then read at full \
         speed and received all {:.1} MiB with no gap. A watcher reading at 2 MiB/s fell behind \
         the retained window and was skipped ahead: {} `gap` events, {:.1} MiB skipped, {:.1} MiB \
         received. Berth RSS over time (every 0.5 s): {}. The docker CLI under the same slow pipe \
         reader: peak {:.1} MiB, {} s total vs Berth's {:.1} s; its RSS over time: {}.",
        DEFAULT_LIMIT / (1024 * 1024),
        in_slow_phase.last().map_or(0.0, |s| s.0),
        mib(produced_in_slow),
        size / MIB,
        mib(p.consumer.total),
        w.gap_events,
        mib(w.gap_bytes),
        mib(w.consumer.total),
        series(&samples),
        mib(cli.reaped.max_rss),
        format_args!("{:.1}", cli.elapsed.as_secs_f64()),
        p.to_exit.map_or(0.0, |d| d.as_secs_f64()),
        cli.rss_samples
            .iter()
            .step_by(5)
            .map(|(t, rss)| format!("{t:.1}s {:.1} MiB", mib(*rss)))
            .collect::<Vec<_>>()
            .join(", "),
    ));
}

fn concurrency(ctx: &Ctx, report: &mut Report) {
    let berth = Berth::start(&ctx.binary, DEFAULT_LIMIT);
    let n = ctx.settings.pick(100, 20);
    let trials = ctx.settings.trials(3, 1);
    let argv = workload(&["--rm"], &["echo", "hi"]);
    let (mut b, mut c, mut f) = (Vec::new(), Vec::new(), Vec::new());
    let (mut b_cpu, mut c_cpu) = (Duration::ZERO, Duration::ZERO);
    let (mut b_wall, mut c_wall, mut f_wall) = (Vec::new(), Vec::new(), Vec::new());
    for trial in 0..trials {
        let cpu0 = berth.cpu();
        let t0 = Instant::now();
        let sessions = ctx.rt.block_on(async {
            let tasks: Vec<_> = (0..n)
                .map(|_| {
                    let (to, argv) = (berth.target(), argv.clone());
                    tokio::spawn(async move { berth::run(&to, &argv, Reading::default()).await })
                })
                .collect();
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.expect("task"));
            }
            out
        });
        b_wall.push(t0.elapsed().as_secs_f64());
        b_cpu += berth.cpu() - cpu0;
        for s in &sessions {
            assert!(
                s.exit_code == Some(0) && s.consumer.total == 3,
                "a concurrent Berth run failed: {:?}",
                s.error
            );
            b.push(ms(s.to_exit.expect("exit")));
        }

        let t0 = Instant::now();
        let runs: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..n)
                .map(|_| scope.spawn(|| cli::docker(&cli_run_args(&argv), pipe(), None, None)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread"))
                .collect()
        });
        c_wall.push(t0.elapsed().as_secs_f64());
        for r in &runs {
            assert!(
                r.reaped.success && r.consumer.total == 3,
                "a concurrent docker run failed"
            );
            c.push(ms(r.elapsed));
            c_cpu += r.reaped.cpu;
        }

        let t0 = Instant::now();
        let floors = ctx.rt.block_on(async {
            let tasks: Vec<_> = (0..n)
                .map(|_| {
                    let (engine, argv) = (ctx.engine.clone(), argv.clone());
                    tokio::spawn(async move { floor::run(&engine, &argv).await })
                })
                .collect();
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.expect("task").expect("floor run"));
            }
            out
        });
        f_wall.push(t0.elapsed().as_secs_f64());
        f.extend(floors.iter().map(|r| ms(r.elapsed)));
        progress("concurrency", trial, trials);
    }
    let runs = (n * trials) as f64;
    for (label, p) in [("p50", 50.0), ("p99", 99.0)] {
        report.add(Row::lower_is_better(
            &format!("5. Concurrency: {n} runs at once, {label} latency"),
            percentile(&b, p),
            percentile(&c, p),
            Some(percentile(&f, p)),
            "ms",
            None,
            &argv,
        ));
    }
    report.add(Row {
        name: format!("5. Concurrency: CPU per run ({n} at once)"),
        berth: format!(
            "{:.2} ms (berth process)",
            b_cpu.as_secs_f64() * 1000.0 / runs
        ),
        cli: format!(
            "{:.2} ms (docker process)",
            c_cpu.as_secs_f64() * 1000.0 / runs
        ),
        ratio: Some(b_cpu.as_secs_f64() / c_cpu.as_secs_f64()),
        target: "—".into(),
        met: None,
        floor: "—".into(),
        command: "utime+stime of berth (/proc) and of each docker (wait4)".into(),
    });
    report.detail(format!(
        "Concurrency: all {} Berth runs and all {} docker CLI runs exited 0 with their output. \
         Wall time for {n} runs (median of {trials}): Berth {:.2} s, docker CLI {:.2} s, Engine \
         API floor {:.2} s. Berth peak RSS {:.1} MiB.",
        b.len(),
        c.len(),
        median(&b_wall),
        median(&c_wall),
        median(&f_wall),
        mib(berth.rss().1),
    ));
}

/// Bytes `seq 1 n` prints.
fn seq_bytes(n: u64) -> u64 {
    (1..=n).map(|i| i.to_string().len() as u64 + 1).sum()
}

fn fan_out(ctx: &Ctx, report: &mut Report) {
    let clients = ctx.settings.pick(50, 10);
    let (n, script): (u64, &'static str) = if ctx.settings.quick {
        (
            300_000,
            "while [ ! -e /tmp/go ]; do echo wait; sleep 0.05; done; seq 1 300000",
        )
    } else {
        (
            3_000_000,
            "while [ ! -e /tmp/go ]; do echo wait; sleep 0.05; done; seq 1 3000000",
        )
    };
    let payload = seq_bytes(n);
    // The whole output fits the retained window, so a watcher is never skipped ahead.
    let limit = 64 * 1024 * 1024;
    let argv = workload(&["-d", "--log-driver", "none"], &["sh", "-c", script]);
    let trials = ctx.settings.trials(3, 1);
    let (mut b, mut c) = (Vec::new(), Vec::new());
    let mut identical = true;
    let mut peak = 0;
    for trial in 0..trials {
        // A fresh gateway per trial, as for throughput: finished runs keep their output.
        let berth = Berth::start(&ctx.binary, limit);
        // Berth: a detached run (no client back-pressures it), watched by `clients` clients.
        let started = ctx
            .rt
            .block_on(berth::run(&berth.target(), &argv, Reading::default()));
        let (run_id, cid) = (
            started.run_id.expect("run id"),
            started.container_id.expect("id"),
        );
        let (ready_tx, ready_rx): (Vec<_>, Vec<_>) = (0..clients)
            .map(|_| tokio::sync::oneshot::channel())
            .unzip();
        let watchers: Vec<_> = ready_tx
            .into_iter()
            .map(|ready| {
                let (to, run_id) = (berth.target(), run_id.clone());
                let reading = Reading {
                    slow: None,
                    fingerprint: true,
                };
                ctx.rt
                    .spawn(async move { berth::watch(&to, &run_id, reading, Some(ready)).await })
            })
            .collect();
        ctx.rt.block_on(async {
            for r in ready_rx {
                let _ = r.await;
            }
        });
        let go = Instant::now();
        cli::quiet(&["exec", &cid, "touch", "/tmp/go"]);
        let sessions: Vec<_> = watchers
            .into_iter()
            .map(|w| ctx.rt.block_on(w).expect("watcher"))
            .collect();
        let last = sessions.iter().map(|s| s.ended).max().expect("watchers");
        let prints: Vec<_> = sessions.iter().map(|s| s.consumer.fingerprint()).collect();
        for s in &sessions {
            assert_eq!(s.exit_code, Some(0), "watcher: {:?}", s.error);
            identical &= s.consumer.payload == payload
                && s.gap_events == 0
                && s.consumer.fingerprint() == prints[0];
        }
        let bytes: u64 = sessions.iter().map(|s| s.consumer.payload).sum();
        b.push(mib(bytes) / (last - go).as_secs_f64());
        cli::quiet(&["rm", "-f", &cid]);
        peak = peak.max(berth.rss().1);
        drop(berth);

        // The docker CLI: `docker run -d`, then `clients` × `docker attach`.
        let cid = cli::quiet(&cli_run_args(&argv));
        assert!(!cid.is_empty(), "docker run -d failed");
        let (ready_tx, ready_rx) = mpsc::channel();
        let runs: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..clients)
                .map(|_| {
                    let (cid, ready) = (cid.clone(), ready_tx.clone());
                    scope.spawn(move || {
                        let out = Out::Pipe {
                            slow: None,
                            fingerprint: true,
                        };
                        cli::docker(
                            &["attach", "--no-stdin", "--sig-proxy=false", &cid],
                            out,
                            None,
                            Some(ready),
                        )
                    })
                })
                .collect();
            // Each attach has seen a wait line: it is attached.
            for _ in 0..clients {
                ready_rx.recv().expect("an attach saw output");
            }
            let go = Instant::now();
            cli::quiet(&["exec", &cid, "touch", "/tmp/go"]);
            let runs: Vec<_> = handles
                .into_iter()
                .map(|h| h.join().expect("thread"))
                .collect();
            let last = runs.iter().map(|r| r.ended).max().expect("runs");
            let bytes: u64 = runs.iter().map(|r| r.consumer.payload).sum();
            c.push(mib(bytes) / (last - go).as_secs_f64());
            runs
        });
        for r in &runs {
            assert!(r.reaped.success, "docker attach failed");
            identical &= r.consumer.payload == payload && r.consumer.fingerprint() == prints[0];
        }
        cli::quiet(&["rm", "-f", &cid]);
        progress("fan-out", trial, trials);
    }
    report.add(Row::higher_is_better(
        &format!("6. Fan-out: 1 run, {clients} watchers, aggregate throughput, median"),
        median(&b),
        median(&c),
        None,
        "MiB/s",
        None,
        &argv,
    ));
    report.detail(format!(
        "Fan-out: each of the {clients} Berth watchers (one attach, fanned out) and each of the \
         {clients} `docker attach` clients (one attach each) received the same {:.1} MiB payload: \
         {}. Berth ran with `--output-limit` {} MiB so the whole output stays replayable. Berth \
         peak RSS {:.1} MiB (largest of the trials, a fresh gateway each).",
        mib(payload),
        if identical {
            "identical bytes everywhere (same length and fingerprint, no gap)"
        } else {
            "NOT identical"
        },
        limit / (1024 * 1024),
        mib(peak),
    ));
    assert!(identical, "fan-out clients received different bytes");
}
