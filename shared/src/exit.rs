//! Exit statuses with the docker CLI's meaning (`toStatusError` in cli/command/container/run.go).

/// Berth or the daemon failed before the command could run: bad arguments, no such image,
/// a pull failure, a name conflict.
pub const DOCKER_ERROR: i32 = 125;
/// The command exists but cannot be invoked (not executable, a directory).
pub const CANNOT_INVOKE: i32 = 126;
/// The command was not found.
pub const NOT_FOUND: i32 = 127;

/// The exit status the docker CLI reports for a failed create or start, from the daemon's message.
pub fn status_for_error(message: &str) -> i32 {
    const NOT_FOUND_MARKS: [&str; 3] = [
        "executable file not found",
        "no such file or directory",
        "system cannot find the file specified",
    ];
    const CANNOT_INVOKE_MARKS: [&str; 2] = ["permission denied", "is a directory"];
    if NOT_FOUND_MARKS.iter().any(|m| message.contains(m)) {
        NOT_FOUND
    } else if CANNOT_INVOKE_MARKS.iter().any(|m| message.contains(m)) {
        CANNOT_INVOKE
    } else {
        DOCKER_ERROR
    }
}

/// A human name for an exit status, for status lines ("exited 127: command not found").
pub fn meaning(code: i64) -> Option<&'static str> {
    match code {
        125 => Some("docker error"),
        126 => Some("command cannot be invoked"),
        127 => Some("command not found"),
        130 => Some("interrupted (SIGINT)"),
        137 => Some("killed (SIGKILL)"),
        143 => Some("terminated (SIGTERM)"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_runtime_messages_like_the_cli() {
        let nf = r#"failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "nosuch": executable file not found in $PATH: unknown"#;
        assert_eq!(status_for_error(nf), 127);
        let pd = r#"exec: "/bin/not-executable": permission denied: unknown"#;
        assert_eq!(status_for_error(pd), 126);
        assert_eq!(status_for_error("exec: \"/tmp\": is a directory"), 126);
        assert_eq!(status_for_error("No such image: x:latest"), 125);
        assert_eq!(
            status_for_error("Conflict. The container name \"/x\" is already in use"),
            125
        );
    }
}
