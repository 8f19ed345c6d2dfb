//! `berth`: the gateway's command line (`berth serve`, flags and environment in `config`).

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "berth",
    version,
    about = "Launch containers from a browser, the way `docker run` does"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the dashboard and the API.
    Serve(berth_server::Config),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let filter = EnvFilter::try_from_env("BERTH_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour only on a terminal: a log file or a pipe gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi);
    match std::env::var("BERTH_LOG_FORMAT").as_deref() {
        Ok("json") => logs.json().init(),
        _ => logs.init(),
    }
    let Command::Serve(config) = Cli::parse().command;
    match berth_server::bind_until(config, stop_signal()).await {
        Ok((addr, server)) => {
            tracing::info!("Berth listening on http://{addr}");
            if let Err(e) = server.await {
                tracing::error!("server error: {e}");
                return std::process::ExitCode::FAILURE;
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("cannot start: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// SIGTERM (a service manager) or SIGINT (Ctrl-C).
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
