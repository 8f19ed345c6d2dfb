//! `berth serve` settings, from flags or the environment.

use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "BERTH_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// The Docker engine: `unix:///path/to/docker.sock`, `tcp://host:port` (plain HTTP, or TLS
    /// with `--tls-verify`) or `https://host:port` (TLS).
    #[arg(
        long,
        env = "DOCKER_HOST",
        default_value = "unix:///var/run/docker.sock"
    )]
    pub docker_host: String,

    /// TLS to a `tcp://` engine, verified against `ca.pem`, presenting `cert.pem` and `key.pem`
    /// (all in `--cert-path`), as the docker CLI's `--tlsverify`. Like the CLI, any non-empty
    /// DOCKER_TLS_VERIFY turns it on.
    #[arg(
        long,
        env = "DOCKER_TLS_VERIFY",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "1",
        default_value = "",
        hide_default_value = true,
        value_parser = non_empty
    )]
    pub tls_verify: bool,

    /// The directory of the engine's TLS files (`ca.pem`, `cert.pem`, `key.pem`); default
    /// `~/.docker`. Read once at start.
    #[arg(long, env = "DOCKER_CERT_PATH")]
    pub cert_path: Option<PathBuf>,

    /// Where Berth keeps its state.
    #[arg(long, env = "BERTH_DATA_DIR", default_value = "/var/lib/berth")]
    pub data_dir: PathBuf,

    /// The built dashboard (Trunk's `dist/`), served at `/`.
    #[arg(long, env = "BERTH_STATIC_DIR", default_value = "dist")]
    pub static_dir: PathBuf,

    /// Bytes of output kept per run for late watchers and `GET /api/runs/{id}/output`; older
    /// output is dropped beyond it. The client that started a run is back-pressured instead.
    /// A size as `-m` takes it (`8m`, `512k`, `1g`) or bytes.
    #[arg(long, env = "BERTH_OUTPUT_LIMIT", default_value = "8m", value_parser = size)]
    pub output_limit: usize,

    /// Finished runs kept in memory (with up to `output-limit` bytes each); older ones stay in
    /// the store and are read back when asked for.
    #[arg(long, env = "BERTH_MAX_FINISHED_RUNS", default_value_t = 32)]
    pub max_finished_runs: usize,

    /// A bearer token that acts as an admin: bootstraps the first users. Without it, and with
    /// no users yet, one is generated into `<data-dir>/admin-token`.
    #[arg(long, env = "BERTH_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// The engines to drive (TOML, one `[engines.NAME]` table each: `host`, `tls_verify`,
    /// `cert_path`, `labels`, `max_runs`). Without it, one engine named `local` at
    /// `--docker-host`.
    #[arg(long, env = "BERTH_ENGINES")]
    pub engines: Option<PathBuf>,

    /// The run policy (TOML, docs/POLICY.md). Without it, non-admins may run nothing.
    #[arg(long, env = "BERTH_POLICY")]
    pub policy: Option<PathBuf>,

    /// The origin browsers use to reach Berth (e.g. `https://berth.example.com`): cookie
    /// sessions accept WebSockets and changes only from it, and are `Secure` under https.
    /// Without it, the request's own `Host` is the origin.
    #[arg(long, env = "BERTH_PUBLIC_ORIGIN")]
    pub public_origin: Option<String>,

    /// Connections one client address (an IPv6 /64) may hold open at once; more are closed as
    /// soon as they are accepted. A browser opens a few, plus one per run it follows.
    #[arg(
        long,
        env = "BERTH_MAX_CONNECTIONS_PER_ADDRESS",
        default_value_t = 256,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub max_connections_per_address: u32,

    /// Reverse proxies whose `X-Forwarded-For` names the client (comma-separated addresses or
    /// networks, e.g. `127.0.0.1,10.0.0.0/8`). Their connections count against no
    /// per-address limit; the client's address does. Without it, the header is ignored.
    #[arg(long, env = "BERTH_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: crate::clients::TrustedProxies,

    /// WebSockets one client address may open per second, after a burst of ten seconds'
    /// worth; more are refused with 429.
    #[arg(
        long,
        env = "BERTH_MAX_WEBSOCKETS_PER_SECOND",
        default_value_t = std::num::NonZeroU32::new(20).unwrap()
    )]
    pub max_websockets_per_second: std::num::NonZeroU32,

    /// Demo sessions (running or queued, across templates) one client address may hold.
    #[arg(
        long,
        env = "BERTH_GUEST_SESSIONS_PER_IP",
        default_value_t = 3,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub guest_sessions_per_ip: u32,

    /// The key stored registry passwords are sealed with: 64 hex digits. Without it, one is
    /// generated once into `<data-dir>/secret.key`.
    #[arg(long, env = "BERTH_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,

    /// Admins' pulls may use the gateway host's docker CLI credentials (`~/.docker/config.json`
    /// or `$DOCKER_CONFIG`) when no stored credential matches; nobody else's ever do.
    #[arg(long, env = "BERTH_USE_HOST_DOCKER_CONFIG", value_parser = non_empty, default_value = "", hide_default_value = true, num_args = 0..=1, default_missing_value = "1")]
    pub use_host_docker_config: bool,

    /// A bearer token that may read `/metrics` (and nothing else); admins may too.
    #[arg(long, env = "BERTH_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
}

/// A size in bytes, as `docker run -m` reads one (`8m`, `1.5g`, `4096`).
fn size(value: &str) -> Result<usize, String> {
    match berth_shared::units::ram_in_bytes(value)? {
        n if n > 0 => Ok(n as usize),
        _ => Err("a size above 0".into()),
    }
}

/// DOCKER_TLS_VERIFY as the docker CLI reads it: set and not empty.
fn non_empty(value: &str) -> Result<bool, std::convert::Infallible> {
    Ok(!value.is_empty())
}

impl Config {
    /// TLS for the engine: `--cert-path`, else `~/.docker`, as the docker CLI.
    pub fn engine_tls(&self) -> crate::engine::TlsOptions {
        let home = || std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker"));
        crate::engine::TlsOptions {
            verify: self.tls_verify,
            cert_path: self.cert_path.clone().or_else(home),
        }
    }

    /// Defaults for embedding the gateway (tests, benchmarks): an ephemeral port on loopback
    /// and a fresh data directory.
    pub fn local(docker_host: &str) -> Self {
        Config {
            listen: "127.0.0.1:0".parse().expect("valid address"),
            docker_host: docker_host.to_string(),
            tls_verify: false,
            cert_path: None,
            data_dir: std::env::temp_dir().join(format!("berth-{:016x}", rand::random::<u64>())),
            static_dir: PathBuf::from("dist"),
            output_limit: 8 * 1024 * 1024,
            max_finished_runs: 32,
            admin_token: None,
            engines: None,
            policy: None,
            public_origin: None,
            max_connections_per_address: 256,
            trusted_proxies: Default::default(),
            max_websockets_per_second: std::num::NonZeroU32::new(20).unwrap(),
            guest_sessions_per_ip: 3,
            secret_key: None,
            use_host_docker_config: false,
            metrics_token: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    #[derive(Parser)]
    struct Serve {
        #[command(flatten)]
        config: super::Config,
    }

    #[test]
    fn tls_flags() {
        let parse = |args: &[&str]| Serve::parse_from([&["serve"], args].concat()).config;
        let config = parse(&["--tls-verify", "--cert-path", "/certs"]);
        assert!(config.tls_verify);
        assert_eq!(config.engine_tls().cert_path, Some("/certs".into()));
        // As DOCKER_TLS_VERIFY: any value but the empty one.
        assert!(parse(&["--tls-verify=0"]).tls_verify);
        assert!(!parse(&["--tls-verify="]).tls_verify);
    }

    #[test]
    fn output_limit_takes_sizes() {
        let parse = |args: &[&str]| Serve::try_parse_from([&["serve"], args].concat());
        assert_eq!(parse(&[]).unwrap().config.output_limit, 8 * 1024 * 1024);
        let limit = |v: &str| parse(&["--output-limit", v]).map(|s| s.config.output_limit);
        assert_eq!(limit("512k").unwrap(), 512 * 1024);
        assert_eq!(limit("4096").unwrap(), 4096);
        assert!(limit("0").is_err() && limit("lots").is_err());
    }

    #[test]
    fn connection_limit_flag() {
        let parse = |args: &[&str]| Serve::try_parse_from([&["serve"], args].concat());
        let config = parse(&[]).unwrap().config;
        assert_eq!(config.max_connections_per_address, 256);
        let config = parse(&["--max-connections-per-address", "8"])
            .unwrap()
            .config;
        assert_eq!(config.max_connections_per_address, 8);
        assert!(parse(&["--max-connections-per-address", "0"]).is_err());
    }
}
