//! The side-by-side table, printed and written into docs/BENCHMARKS.md between markers (the
//! prose around them is kept).

use std::path::Path;
use std::process::Command;

const BEGIN: &str = "<!-- berth-bench:begin (generated; edit outside these markers) -->";
const END: &str = "<!-- berth-bench:end -->";

pub struct Row {
    pub name: String,
    pub berth: String,
    pub cli: String,
    /// Berth's figure over the docker CLI's.
    pub ratio: Option<f64>,
    pub target: String,
    pub met: Option<bool>,
    pub floor: String,
    pub command: String,
}

/// A `docker run` command line for the table, quoted for a shell.
pub fn command(argv: &[&str]) -> String {
    let quoted: Vec<String> = argv
        .iter()
        .map(|a| {
            if a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_=.:/,".contains(c))
            {
                a.to_string()
            } else {
                format!("'{a}'")
            }
        })
        .collect();
    format!("docker run {}", quoted.join(" "))
}

impl Row {
    /// A time: the ratio is Berth / CLI, and the target a maximum.
    pub fn lower_is_better(
        name: &str,
        berth: f64,
        cli: f64,
        floor: Option<f64>,
        unit: &str,
        target: Option<f64>,
        argv: &[&str],
    ) -> Row {
        let row = Row::new(name, (berth, cli, floor), unit, 1, argv);
        Row {
            target: target.map_or("—".into(), |t| format!("≤ {t}×")),
            met: target.map(|t| berth / cli <= t),
            ..row
        }
    }

    /// A rate: the ratio is Berth / CLI, and the target a minimum.
    pub fn higher_is_better(
        name: &str,
        berth: f64,
        cli: f64,
        floor: Option<f64>,
        unit: &str,
        target: Option<f64>,
        argv: &[&str],
    ) -> Row {
        let row = Row::new(name, (berth, cli, floor), unit, 0, argv);
        Row {
            target: target.map_or("—".into(), |t| format!("≥ {t}×")),
            met: target.map(|t| berth / cli >= t),
            ..row
        }
    }

    /// Berth's, the CLI's and the floor's figures, with `decimals`.
    fn new(
        name: &str,
        (berth, cli, floor): (f64, f64, Option<f64>),
        unit: &str,
        decimals: usize,
        argv: &[&str],
    ) -> Row {
        let figure = |v: f64| format!("{v:.decimals$} {unit}");
        Row {
            name: name.into(),
            berth: figure(berth),
            cli: figure(cli),
            ratio: Some(berth / cli),
            target: "—".into(),
            met: None,
            floor: floor.map_or("—".into(), figure),
            command: command(argv),
        }
    }
}

pub struct Report {
    rows: Vec<Row>,
    details: Vec<String>,
    machine: String,
    load_before: String,
    load_after: String,
    started: String,
    quick: bool,
}

fn sh(cmd: &str) -> String {
    Command::new("sh")
        .args(["-c", cmd])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

impl Report {
    pub fn new(quick: &bool, engine: &str) -> Report {
        let cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2");
        let machine = format!(
            "{} × {}, {} RAM, Linux {}; dockerd {engine}; docker CLI {}",
            sh("nproc"),
            cpu.trim(),
            sh("free -h | awk '/Mem:/ {print $2}'"),
            sh("uname -r"),
            sh("docker version --format '{{.Client.Version}}'"),
        );
        Report {
            rows: Vec::new(),
            details: Vec::new(),
            machine,
            load_before: load(),
            load_after: String::new(),
            started: sh("date -u '+%Y-%m-%d %H:%M UTC'"),
            quick: *quick,
        }
    }

    pub fn add(&mut self, row: Row) {
        eprintln!(
            "  {}: Berth {} | docker CLI {} | ratio {}",
            row.name,
            row.berth,
            row.cli,
            row.ratio.map_or("—".into(), |r| format!("{r:.2}"))
        );
        self.rows.push(row);
    }

    pub fn detail(&mut self, text: String) {
        eprintln!("  {text}");
        self.details.push(text);
    }

    pub fn finish(&mut self) {
        self.load_after = load();
    }

    pub fn table(&self) -> String {
        let mut t = String::new();
        t.push_str(
            "| benchmark | Berth | docker CLI | ratio (Berth / CLI) | target | met | Engine API floor | command |\n",
        );
        t.push_str("|---|---|---|---|---|---|---|---|\n");
        for r in &self.rows {
            let met = match r.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "—",
            };
            t.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | `{}` |\n",
                r.name.replace('|', "\\|"),
                r.berth,
                r.cli,
                r.ratio.map_or("—".into(), |r| format!("{r:.2}×")),
                r.target,
                met,
                r.floor,
                r.command.replace('|', "\\|"),
            ));
        }
        t
    }

    fn generated(&self) -> String {
        let mut s = String::new();
        s.push_str(BEGIN);
        s.push('\n');
        s.push_str(&format!(
            "\nGenerated {} by `cargo run --release -p berth-bench -- {}--write docs/BENCHMARKS.md`.\n\n",
            self.started,
            if self.quick { "--quick " } else { "" }
        ));
        s.push_str(&format!("Machine: {}.\n\n", self.machine));
        s.push_str(&format!(
            "Load average (1, 5, 15 min) before: {}; after: {}.\n\n",
            self.load_before, self.load_after
        ));
        s.push_str(&self.table());
        s.push('\n');
        for d in &self.details {
            s.push_str(&format!("- {d}\n"));
        }
        s.push('\n');
        s.push_str(END);
        s
    }

    /// Replaces the generated part of `path`, keeping the rest; creates the file if needed.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let old = std::fs::read_to_string(path).unwrap_or_default();
        let new = match (old.find(BEGIN), old.find(END)) {
            (Some(b), Some(e)) if b < e => {
                format!("{}{}{}", &old[..b], self.generated(), &old[e + END.len()..])
            }
            _ => format!("# Benchmarks\n\n{}\n{old}", self.generated()),
        };
        std::fs::write(path, new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_compare_to_the_target() {
        let fast = Row::lower_is_better("t", 80.0, 100.0, None, "ms", Some(0.9), &["--rm", "x"]);
        assert_eq!(fast.met, Some(true));
        let slow = Row::higher_is_better("r", 90.0, 100.0, Some(120.0), "MiB/s", Some(0.95), &[]);
        assert_eq!(slow.met, Some(false));
        assert_eq!(
            command(&["sh", "-c", "echo hi; sleep 1"]),
            "docker run sh -c 'echo hi; sleep 1'"
        );
    }

    #[test]
    fn writing_keeps_the_prose_around_the_markers() {
        let dir = std::env::temp_dir().join(format!("berth-bench-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("B.md");
        std::fs::write(
            &path,
            format!("# T\n\nbefore\n{BEGIN}\nold\n{END}\nafter\n"),
        )
        .unwrap();
        let mut r = Report::new(&true, "x");
        r.add(Row::lower_is_better("t", 1.0, 2.0, None, "ms", None, &[]));
        r.write(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# T\n\nbefore\n") && text.ends_with("\nafter\n"));
        assert!(!text.contains("\nold\n") && text.contains("| t | 1.0 ms"));
        // A `|` in a name or command must not split the table's cells.
        let mut r = Report::new(&true, "x");
        r.add(Row::lower_is_better(
            "a | b",
            1.0,
            2.0,
            None,
            "ms",
            None,
            &["x|y"],
        ));
        let row = r.table().lines().nth(2).unwrap().to_string();
        assert_eq!(row.matches(" | ").count(), 7, "{row}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
