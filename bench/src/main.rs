//! `berth-bench`: Berth side by side with the docker CLI (and the raw Engine API floor) on the
//! same container workloads, in the same run, trials interleaved so machine noise hits all alike.
//!
//! ```sh
//! cargo run --release -p berth-bench -- --write docs/BENCHMARKS.md   # full
//! cargo run --release -p berth-bench -- --quick                      # smoke
//! cargo run --release -p berth-bench -- --only placement,engines-concurrency
//! cargo run --release -p berth-bench -- --only demo
//! ```
//!
//! Long on purpose: the sections share the settings, the context and the report, and read top to
//! bottom in the order they run and are reported; what they measure with lives in the modules.

mod berth;
mod cli;
mod consume;
mod demo;
mod floor;
mod procstat;
mod report;
mod stats;

use std::collections::BTreeMap;
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
/// The test bed's engines (`scripts/testbed.sh`): the docker CLI's default, and a second dockerd
/// for the sections over several engines.
const FIRST_HOST: &str = "unix:///var/run/docker.sock";
const SECOND_HOST: &str = "unix:///var/run/berth-testbed-2.sock";
/// Every section's name, for `--only`.
const SECTIONS: &[&str] = &[
    "latency",
    "ttfb",
    "throughput",
    "slow",
    "concurrency",
    "fanout",
    "placement",
    "engines-concurrency",
    "demo",
];
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
                    let only: Vec<String> = list.split(',').map(str::to_string).collect();
                    if let Some(bad) = only.iter().find(|o| !SECTIONS.contains(&o.as_str())) {
                        panic!("unknown section {bad}: one of {}", SECTIONS.join(","));
                    }
                    s.only = Some(only);
                }
                "-h" | "--help" => {
                    println!(
                        "berth-bench [--quick] [--trials N] [--write docs/BENCHMARKS.md] \
                         [--only {}]\n\n\
                         placement and engines-concurrency also need the second test-bed \
                         engine, {SECOND_HOST} (scripts/testbed.sh).",
                        SECTIONS.join(",")
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
    let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    // Without the variables `cargo run` gives this process (its package's name, version and
    // manifest): build scripts that watch them (ring's) would otherwise see them change between
    // this build and the one that built the bench, and rebuild every time.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_MANIFEST_")
            || [
                "CARGO_CRATE_NAME",
                "CARGO_BIN_NAME",
                "CARGO_PRIMARY_PACKAGE",
            ]
            .contains(&name.as_ref())
        {
            build.env_remove(name.as_ref());
        }
    }
    let built = build
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
    let engine = Engine::new(FIRST_HOST).expect("engine");
    rt.block_on(engine.ping())
        .expect("the engine answers a ping");
    if settings.wants("placement") || settings.wants("engines-concurrency") {
        assert!(
            !cli::quiet(&[
                "-H",
                SECOND_HOST,
                "image",
                "inspect",
                "--format",
                "{{.Id}}",
                FIXTURE
            ])
            .is_empty(),
            "the second engine {SECOND_HOST} does not answer or lacks {FIXTURE}: run \
             scripts/testbed.sh"
        );
    }

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
    if ctx.settings.wants("placement") {
        placement(&ctx, &mut report);
    }
    if ctx.settings.wants("engines-concurrency") {
        engines_concurrency(&ctx, &mut report);
    }
    if ctx.settings.wants("demo") {
        demo_sessions(&ctx, &mut report);
    }
    clean_up();
    report.finish();
    println!("{}", report.table());
    if let Some(path) = &ctx.settings.write {
        report.write(path).expect("write the report");
        eprintln!("wrote {}", path.display());
    }
}

/// The ids of the containers a benchmark left on an engine (all carry `LABEL`), running or not.
fn left_on(host: &str) -> Vec<String> {
    let filter = format!("label={LABEL}");
    cli::quiet(&["-H", host, "ps", "-aq", "--filter", &filter])
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Removes every container a benchmark made, on both test-bed engines.
fn clean_up() {
    for host in [FIRST_HOST, SECOND_HOST] {
        let ids = left_on(host);
        if !ids.is_empty() {
            let mut args = vec!["-H", host, "rm", "-f"];
            args.extend(ids.iter().map(String::as_str));
            cli::quiet(&args);
        }
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

/// An engines file (`--engines`): one `[engines.NAME]` table per (name, host), in this order.
fn engines_file(engines: &[(&str, &str)]) -> String {
    engines
        .iter()
        .map(|(name, host)| format!("[engines.{name}]\nhost = \"{host}\"\n"))
        .collect()
}

/// `docker -H host run <argv>`.
fn cli_run_on(host: &'static str, argv: &[&'static str]) -> Vec<&'static str> {
    let mut v = vec!["-H", host];
    v.extend(cli_run_args(argv));
    v
}

/// How many runs each engine took, as `name n, name n`.
fn spread_over_engines<'a>(engines: impl Iterator<Item = &'a str>) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for e in engines {
        *counts.entry(e).or_default() += 1;
    }
    counts
        .iter()
        .map(|(e, n)| format!("{e} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Waits (up to 10 s) until neither test-bed engine holds a benchmark container; says what
/// `docker ps -a --filter label=LABEL` found on each at the end.
fn nothing_left() -> (bool, String) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: Vec<(&str, usize)> = [FIRST_HOST, SECOND_HOST]
            .into_iter()
            .map(|h| (h, left_on(h).len()))
            .collect();
        let clean = left.iter().all(|(_, n)| *n == 0);
        if clean || Instant::now() >= deadline {
            let said = left
                .iter()
                .map(|(h, n)| format!("{n} on {}", h.trim_start_matches("unix://")))
                .collect::<Vec<_>>()
                .join(", ");
            return (clean, said);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Run latency as in section 1, Berth driving three engines (placement among them on every run)
/// against Berth driving one, both from an engines file; trials interleaved with the docker CLI.
///
/// Placement picks the engine (with no run in progress, the one with the fewest running
/// containers), and the two test-bed daemons do not answer alike (other work on the machine
/// uses the first one). So each trial compares like with like: the 3-engine run goes first, and
/// the 1-engine Berth and the CLI then run on the socket it was placed on (a 1-engine gateway
/// for each socket; `-H` for the CLI).
fn placement(ctx: &Ctx, report: &mut Report) {
    let hosts = [FIRST_HOST, SECOND_HOST];
    let one = [
        Berth::with_engines(
            &ctx.binary,
            DEFAULT_LIMIT,
            &engines_file(&[("local", FIRST_HOST)]),
        ),
        Berth::with_engines(
            &ctx.binary,
            DEFAULT_LIMIT,
            &engines_file(&[("second", SECOND_HOST)]),
        ),
    ];
    // The test bed has two engines: the third is a second name for the first socket.
    let three = Berth::with_engines(
        &ctx.binary,
        DEFAULT_LIMIT,
        &engines_file(&[
            ("local", FIRST_HOST),
            ("second", SECOND_HOST),
            ("third", FIRST_HOST),
        ]),
    );
    let socket_of = |engine: &str| match engine {
        "local" | "third" => 0,
        "second" => 1,
        other => panic!("placed on an unknown engine {other:?}"),
    };
    let argv = workload(&["--rm"], &["echo", "hi"]);
    let on_host = [
        cli_run_on(FIRST_HOST, &argv),
        cli_run_on(SECOND_HOST, &argv),
    ];
    let trials = ctx.settings.trials(25, 3);
    let (mut b1, mut b3, mut c) = (Vec::new(), Vec::new(), Vec::new());
    // Per socket: (1 engine, 3 engines, CLI) latencies.
    let mut by_socket: [(Vec<f64>, Vec<f64>, Vec<f64>); 2] = Default::default();
    let mut placed = Vec::new();
    let run = |berth: &Berth| {
        let s = ctx
            .rt
            .block_on(berth::run(&berth.target(), &argv, Reading::default()));
        assert_eq!(s.exit_code, Some(0), "berth run failed: {:?}", s.error);
        assert_eq!(s.consumer.total, 3);
        s
    };
    // One untimed round first (on each socket: the first two rounds are untimed).
    let warm_up = 2;
    for trial in 0..trials + warm_up {
        let s3 = run(&three);
        let engine = s3.engine.clone().unwrap_or_default();
        let socket = if trial < warm_up {
            trial
        } else {
            socket_of(&engine)
        };
        // The 1-engine Berth and the CLI take turns going second.
        let cli_run = || cli::docker(&on_host[socket], pipe(), None, None);
        let (s1, cli) = if trial % 2 == 0 {
            let s1 = run(&one[socket]);
            (s1, cli_run())
        } else {
            let cli = cli_run();
            (run(&one[socket]), cli)
        };
        assert!(
            cli.reaped.success && cli.consumer.total == 3,
            "docker run failed"
        );
        if trial >= warm_up {
            let (t1, t3, tc) = (
                ms(s1.to_exit.expect("exit")),
                ms(s3.to_exit.expect("exit")),
                ms(cli.elapsed),
            );
            b1.push(t1);
            b3.push(t3);
            c.push(tc);
            by_socket[socket].0.push(t1);
            by_socket[socket].1.push(t3);
            by_socket[socket].2.push(tc);
            placed.push(engine);
            progress("placement", trial - warm_up, trials);
        }
    }
    let (m1, m3) = (median(&b1), median(&b3));
    // Where the runs went: the CLI used `-H` the same socket.
    let command = format!(
        "docker [-H {SECOND_HOST}] {}",
        report::command(&argv).trim_start_matches("docker ")
    );
    let row = Row::lower_is_better(
        "7. Placement: run latency, Berth with 1 engine, median",
        m1,
        median(&c),
        None,
        "ms",
        None,
        &argv,
    );
    report.add(Row {
        command: command.clone(),
        ..row
    });
    let row = Row::lower_is_better(
        "7. Placement: run latency, Berth with 3 engines, median",
        m3,
        median(&c),
        None,
        "ms",
        None,
        &argv,
    );
    report.add(Row {
        berth: format!("{} ({:.2}× of 1 engine)", row.berth, m3 / m1),
        command,
        ..row
    });
    let spread = |v: &[f64]| {
        format!(
            "{:.1}/{:.1}/{:.1}",
            percentile(v, 10.0),
            median(v),
            percentile(v, 90.0)
        )
    };
    let per_socket = hosts
        .iter()
        .zip(&by_socket)
        .filter(|(_, (t1, _, _))| !t1.is_empty())
        .map(|(host, (t1, t3, tc))| {
            format!(
                "on {} ({} runs) 1 engine {:.1} ms, 3 engines {:.1} ms, CLI {:.1} ms",
                host.trim_start_matches("unix://"),
                t1.len(),
                median(t1),
                median(t3),
                median(tc)
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let (clean, left) = nothing_left();
    report.detail(format!(
        "Placement over {trials} trials (ms, p10/p50/p90): Berth with 1 engine {}; with 3 engines \
         {} (3 engines / 1 engine: {:.2}× at the median); docker CLI {}. The 3-engine Berth's \
         engines file: `local` = {FIRST_HOST}, `second` = {SECOND_HOST}, `third` = {FIRST_HOST} \
         again (the test bed has two dockerd; `third` is a second name for the first). Each trial \
         ran it first, then a 1-engine Berth (an engines file with that socket alone) and the \
         docker CLI (`-H` that socket) on the socket it was placed on: {} (medians {per_socket}). \
         Left afterwards (`docker ps -a --filter label={LABEL}`): {left}.",
        spread(&b1),
        spread(&b3),
        m3 / m1,
        spread(&c),
        spread_over_engines(placed.iter().map(String::as_str)),
    ));
    assert!(clean, "benchmark containers were left: {left}");
}

/// Section 5 over two engines: `n` runs at once through one Berth that places them (no engine
/// named), against `n / 2` docker CLI runs at once on each socket at the same time, and the
/// Engine API floor doing the same over both sockets.
fn engines_concurrency(ctx: &Ctx, report: &mut Report) {
    let berth = Berth::with_engines(
        &ctx.binary,
        DEFAULT_LIMIT,
        &engines_file(&[("local", FIRST_HOST), ("second", SECOND_HOST)]),
    );
    let second = Engine::new(SECOND_HOST).expect("engine");
    ctx.rt
        .block_on(second.ping())
        .expect("the second engine answers a ping");
    let floors_on = [ctx.engine.clone(), second];
    let n = ctx.settings.pick(100, 20);
    let trials = ctx.settings.trials(3, 1);
    let argv = workload(&["--rm"], &["echo", "hi"]);
    let on_host = [
        cli_run_on(FIRST_HOST, &argv),
        cli_run_on(SECOND_HOST, &argv),
    ];
    let (mut b, mut c, mut f) = (Vec::new(), Vec::new(), Vec::new());
    let mut c_by_host: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut b_by_engine: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut placed = Vec::new();
    let (mut b_wall, mut c_wall, mut f_wall) = (Vec::new(), Vec::new(), Vec::new());
    for trial in 0..trials {
        let t0 = Instant::now();
        let sessions = ctx.rt.block_on(async {
            let tasks: Vec<_> = (0..n)
                .map(|_| {
                    let (to, argv) = (berth.target(), argv.clone());
                    tokio::spawn(async move {
                        berth::run_on(&to, &argv, None, Reading::default()).await
                    })
                })
                .collect();
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.expect("task"));
            }
            out
        });
        b_wall.push(t0.elapsed().as_secs_f64());
        for s in &sessions {
            assert!(
                s.exit_code == Some(0) && s.consumer.total == 3,
                "a concurrent Berth run failed: {:?}",
                s.error
            );
            let t = ms(s.to_exit.expect("exit"));
            b.push(t);
            b_by_engine
                .entry(s.engine.clone().unwrap_or_default())
                .or_default()
                .push(t);
        }
        placed.push(spread_over_engines(
            sessions.iter().map(|s| s.engine.as_deref().unwrap_or("?")),
        ));

        // Half on each socket, started alternately so both engines get theirs at once.
        let t0 = Instant::now();
        let runs: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..n)
                .map(|i| {
                    let args = &on_host[i % 2];
                    scope.spawn(move || (i % 2, cli::docker(args, pipe(), None, None)))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread"))
                .collect()
        });
        c_wall.push(t0.elapsed().as_secs_f64());
        for (host, r) in &runs {
            assert!(
                r.reaped.success && r.consumer.total == 3,
                "a concurrent docker run failed"
            );
            c.push(ms(r.elapsed));
            c_by_host[*host].push(ms(r.elapsed));
        }

        let t0 = Instant::now();
        let floors = ctx.rt.block_on(async {
            let tasks: Vec<_> = (0..n)
                .map(|i| {
                    let (engine, argv) = (floors_on[i % 2].clone(), argv.clone());
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
        progress("engines-concurrency", trial, trials);
    }
    // The table's command: the CLI side runs half of them with `-H` the second socket.
    let command = format!(
        "docker [-H {SECOND_HOST}] {}",
        report::command(&argv).trim_start_matches("docker ")
    );
    for (label, p) in [("p50", 50.0), ("p99", 99.0)] {
        let row = Row::lower_is_better(
            &format!("8. Two engines: {n} runs at once, placed, {label} latency"),
            percentile(&b, p),
            percentile(&c, p),
            Some(percentile(&f, p)),
            "ms",
            None,
            &argv,
        );
        report.add(Row {
            command: command.clone(),
            ..row
        });
    }
    let (clean, left) = nothing_left();
    report.detail(format!(
        "Two engines: one Berth with `local` = {FIRST_HOST} and `second` = {SECOND_HOST}, no \
         engine named (placement: fewest Berth runs in progress), placed the {n} runs of each \
         trial as {}; p50 per engine {}. The docker CLI ran {} at once with no `-H` and {} with \
         `-H {SECOND_HOST}`, all at the same time (p50 {:.1} / {:.1} ms); the floor likewise, \
         half over each socket. All {} Berth runs and all {} docker CLI runs exited 0 with their \
         output. Wall time for {n} runs (median of {trials}): Berth {:.2} s, docker CLI {:.2} s, \
         Engine API floor {:.2} s. Berth peak RSS {:.1} MiB. Left afterwards (`docker ps -a \
         --filter label={LABEL}` on both sockets): {left}.",
        placed.join("; "),
        b_by_engine
            .iter()
            .map(|(e, v)| format!("{e} {:.1} ms", median(v)))
            .collect::<Vec<_>>()
            .join(", "),
        n - n / 2,
        n / 2,
        median(&c_by_host[0]),
        median(&c_by_host[1]),
        b.len(),
        c.len(),
        median(&b_wall),
        median(&c_wall),
        median(&f_wall),
        mib(berth.rss().1),
    ));
    assert!(clean, "benchmark containers were left: {left}");
}

/// The demo section's policy: a `[guest]` table (public templates need one) allowing the
/// fixture, with the limits a guest table must have; no network (the table's default).
const DEMO_POLICY: &str = "[guest]\nallowed_images = [\"berth-fixture:*\"]\nmax_memory = \
                           \"64m\"\nmax_cpus = 0.5\nmax_pids = 64\n";

/// Creates a public template of `argv` (`capacity` sessions, `warm` ready containers).
fn create_template(ctx: &Ctx, berth: &Berth, name: &str, argv: &[&str], capacity: u32, warm: u32) {
    let body = serde_json::json!({
        "name": name,
        "title": name,
        "argv": argv,
        "ttl_seconds": 600,
        "idle_seconds": 600,
        "capacity": capacity,
        "warm": warm,
        "access": "public",
    })
    .to_string();
    let admin = berth.target().credential;
    let reply = ctx
        .rt
        .block_on(demo::http(
            berth.addr,
            "POST",
            "/api/templates",
            Some(&admin),
            Some(&body),
        ))
        .expect("POST /api/templates");
    assert_eq!(reply.status, 201, "creating {name}: {}", reply.body);
}

/// A template's `pool.ready`.
fn pool_ready(berth: &Berth, name: &str) -> Option<u64> {
    berth
        .get(&format!("/api/templates/{name}"))
        .and_then(|b| serde_json::from_str::<serde_json::Value>(&b).ok())
        .and_then(|v| v["pool"]["ready"].as_u64())
}

/// Waits until every template's pool holds its `warm` ready containers and the engine holds
/// nothing else of the benchmark (the sessions before are removed); how long that took.
fn settle(berth: &Berth, templates: &[(&str, u32)]) -> Duration {
    let t0 = Instant::now();
    let containers: u32 = templates.iter().map(|(_, w)| w).sum();
    loop {
        let pools = templates
            .iter()
            .all(|(name, warm)| pool_ready(berth, name) == Some(u64::from(*warm)));
        if pools && left_on(FIRST_HOST).len() == containers as usize {
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "the demo templates did not settle in 120 s: pools {:?}, {} benchmark containers on \
             the engine",
            templates
                .iter()
                .map(|(n, _)| (n, pool_ready(berth, n)))
                .collect::<Vec<_>>(),
            left_on(FIRST_HOST).len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `n` visitors arriving at once on `template`; their sessions are ended afterwards, once
/// `before_end` has run.
fn arrivals(
    ctx: &Ctx,
    berth: &Berth,
    template: &str,
    n: usize,
    before_end: impl FnOnce(),
) -> Vec<demo::Arrival> {
    let addr = berth.addr;
    let out = ctx.rt.block_on(async {
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let template = template.to_string();
                tokio::spawn(async move { demo::arrive(addr, &template).await })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.expect("task"));
        }
        out
    });
    before_end();
    let admin = berth.target().credential;
    let ends = ctx.rt.block_on(async {
        let tasks: Vec<_> = out
            .iter()
            .filter_map(|a| a.session_id.clone())
            .map(|id| {
                let admin = admin.clone();
                tokio::spawn(async move {
                    let path = format!("/api/sessions/{id}");
                    demo::http(addr, "DELETE", &path, Some(&admin), None)
                        .await
                        .map(|r| r.status)
                })
            })
            .collect();
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.expect("task"));
        }
        statuses
    });
    for status in ends {
        assert!(
            matches!(status, Ok(204)),
            "DELETE /api/sessions/{{id}}: {status:?}"
        );
    }
    for a in &out {
        assert!(
            a.error.is_none() && a.first_byte.is_some(),
            "a visitor of {template} got no output: {:?}",
            a.error
        );
    }
    out
}

/// Demo environments (issue 14): the time from `POST /api/templates/{name}/sessions` to the
/// first output byte on the visitor's run WebSocket, for a template with a warm pool and for
/// one without, trials interleaved; one visitor at a time, then 50 arriving at once.
fn demo_sessions(ctx: &Ctx, report: &mut Report) {
    let berth = Berth::with_policy(
        &ctx.binary,
        DEFAULT_LIMIT,
        DEMO_POLICY,
        &[("BERTH_GUEST_SESSIONS_PER_IP", "1000")],
    );
    let argv = workload(
        &["-it", "--network", "none"],
        &["sh", "-c", "echo ready; exec sh"],
    );
    let ms_of = |arrivals: &[demo::Arrival]| -> Vec<f64> {
        arrivals
            .iter()
            .map(|a| ms(a.first_byte.expect("output")))
            .collect()
    };
    let warm_count = |arrivals: &[demo::Arrival]| arrivals.iter().filter(|a| a.warm).count();

    // (a) One visitor at a time.
    let (warm_t, cold_t) = ("bench-warm", "bench-cold");
    create_template(ctx, &berth, warm_t, &argv, 2, 1);
    create_template(ctx, &berth, cold_t, &argv, 2, 0);
    let quiet = [(warm_t, 1), (cold_t, 0)];
    settle(&berth, &quiet);
    let instance = berth.instance();
    let trials = ctx.settings.trials(15, 3);
    let (mut warm, mut cold) = (Vec::new(), Vec::new());
    // One untimed round of each first; the order alternates from trial to trial.
    for trial in 0..=trials {
        let order = if trial % 2 == 0 {
            [warm_t, cold_t]
        } else {
            [cold_t, warm_t]
        };
        for template in order {
            settle(&berth, &quiet);
            let a = arrivals(ctx, &berth, template, 1, || {}).remove(0);
            match (trial, template == warm_t) {
                (0, _) => {}
                (_, true) => warm.push(a),
                (_, false) => cold.push(a),
            }
        }
        if trial > 0 {
            progress("demo, one visitor", trial - 1, trials);
        }
    }
    settle(&berth, &quiet);
    for name in [warm_t, cold_t] {
        delete_template(ctx, &berth, name);
    }
    let (w, c) = (ms_of(&warm), ms_of(&cold));
    let row = Row::lower_is_better(
        "9a. Demo session, POST → first output byte, 1 visitor, warm / cold template, median",
        median(&w),
        median(&c),
        None,
        "ms",
        Some(0.1),
        &argv,
    );
    report.add(Row {
        berth: format!("{} (warm)", row.berth),
        cli: format!("{} (cold, through Berth)", row.cli),
        ..row
    });
    let spread = |v: &[f64]| {
        format!(
            "{:.1}/{:.1}/{:.1}",
            percentile(v, 10.0),
            median(v),
            percentile(v, 90.0)
        )
    };
    // Where the time goes: the POST's answer, the WebSocket's upgrade, then the watch until
    // the first byte (medians).
    let phases = |arrivals: &[demo::Arrival]| {
        let of = |f: &dyn Fn(&demo::Arrival) -> Duration| {
            median(&arrivals.iter().map(|a| ms(f(a))).collect::<Vec<_>>())
        };
        let connected = |a: &demo::Arrival| a.connected.expect("connected");
        format!(
            "POST answered {:.1} ms, WebSocket upgraded {:.1} ms later, first byte {:.1} ms \
             after that",
            of(&|a| a.answered),
            of(&|a| connected(a) - a.answered),
            of(&|a| a.first_byte.expect("output") - connected(a)),
        )
    };
    report.detail(format!(
        "Demo, one visitor at a time over {trials} trials each (ms, p10/p50/p90, from sending \
         the POST to the first output byte on `/api/runs/{{run_id}}/ws`): warm template (`warm: \
         1`) {}, cold (`warm: 0`) {}. Medians of the steps: warm {}; cold {}. Sessions that \
         took a ready container (`\"warm\": true`): {} of {} on the warm template, {} of {} \
         on the cold one.",
        spread(&w),
        spread(&c),
        phases(&warm),
        phases(&cold),
        warm_count(&warm),
        warm.len(),
        warm_count(&cold),
        cold.len(),
    ));

    // (b) 50 visitors at once.
    let n: u32 = ctx.settings.pick(50, 10);
    let (warm_t, cold_t) = ("bench-warm-many", "bench-cold-many");
    let t0 = Instant::now();
    create_template(ctx, &berth, warm_t, &argv, n, n);
    create_template(ctx, &berth, cold_t, &argv, n, 0);
    let quiet = [(warm_t, n), (cold_t, 0)];
    settle(&berth, &quiet);
    let first_fill = t0.elapsed();
    let trials = ctx.settings.trials(3, 1);
    let (mut w, mut c) = (Vec::new(), Vec::new());
    let (mut warm, mut cold) = (Vec::new(), Vec::new());
    let mut per_trial = Vec::new();
    let mut refills = Vec::new();
    for trial in 0..trials {
        let order = if trial % 2 == 0 {
            [warm_t, cold_t]
        } else {
            [cold_t, warm_t]
        };
        for template in order {
            settle(&berth, &quiet);
            let burst = Instant::now();
            let is_warm = template == warm_t;
            let got = arrivals(ctx, &berth, template, n as usize, || {
                if is_warm {
                    // The pool refills beside the running sessions: how long until it is full.
                    let deadline = burst + Duration::from_secs(120);
                    while pool_ready(&berth, warm_t) != Some(u64::from(n))
                        && Instant::now() < deadline
                    {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    refills.push(burst.elapsed());
                }
            });
            let t = ms_of(&got);
            per_trial.push(format!(
                "{} p50 {:.1} / p99 {:.1} ms",
                if is_warm { "warm" } else { "cold" },
                percentile(&t, 50.0),
                percentile(&t, 99.0)
            ));
            if is_warm {
                w.extend(t);
                warm.extend(got);
            } else {
                c.extend(t);
                cold.extend(got);
            }
        }
        progress(&format!("demo, {n} visitors at once"), trial, trials);
    }
    settle(&berth, &quiet);
    for name in [warm_t, cold_t] {
        delete_template(ctx, &berth, name);
    }
    for (label, p) in [("p50", 50.0), ("p99", 99.0)] {
        let row = Row::lower_is_better(
            &format!(
                "9b. Demo sessions, {n} visitors at once, POST → first output byte, warm / cold, \
                 {label}"
            ),
            percentile(&w, p),
            percentile(&c, p),
            None,
            "ms",
            Some(0.1),
            &argv,
        );
        report.add(Row {
            berth: format!("{} (warm)", row.berth),
            cli: format!("{} (cold, through Berth)", row.cli),
            ..row
        });
    }
    let (clean, left) = nothing_left();
    // The gateway's own label too: a session container without the bench's label would
    // still be found.
    assert!(
        !instance.is_empty(),
        "no instance-id in the gateway's data directory"
    );
    let of_instance = cli::quiet(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=io.berth.instance={instance}"),
    ])
    .split_whitespace()
    .count();
    report.detail(format!(
        "Demo, {n} visitors at once ({trials} trials each, interleaved; each visitor a new \
         anonymous guest): warm template (`warm: {n}`, `capacity: {n}`) and cold (`warm: 0`, \
         `capacity: {n}`), per trial {}. Medians of the steps: warm {}; cold {}. Sessions that \
         took a ready container: {} of {} on the warm template, {} of {} on the cold one. \
         Filling the warm pool at creation took {:.1} s; after a burst it was full again \
         (beside the {n} running sessions) {} after the burst began. Berth peak RSS {:.1} \
         MiB. Left afterwards, the templates deleted: {left} (`--filter label={LABEL}`), \
         {of_instance} with the gateway's `io.berth.instance` label.",
        per_trial.join(", "),
        phases(&warm),
        phases(&cold),
        warm_count(&warm),
        warm.len(),
        warm_count(&cold),
        cold.len(),
        first_fill.as_secs_f64(),
        refills
            .iter()
            .map(|d| format!("{:.1} s", d.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", "),
        mib(berth.rss().1),
    ));
    assert!(
        clean && of_instance == 0,
        "benchmark containers were left: {left}; {of_instance} of the gateway"
    );
}

/// Deletes a template (its sessions end, its pool is drained).
fn delete_template(ctx: &Ctx, berth: &Berth, name: &str) {
    let admin = berth.target().credential;
    let reply = ctx
        .rt
        .block_on(demo::http(
            berth.addr,
            "DELETE",
            &format!("/api/templates/{name}"),
            Some(&admin),
            None,
        ))
        .expect("DELETE /api/templates/{name}");
    assert_eq!(reply.status, 204, "deleting {name}: {}", reply.body);
}
