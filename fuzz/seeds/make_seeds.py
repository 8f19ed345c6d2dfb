#!/usr/bin/env python3
"""Writes the hand-made seeds of every target into corpus/<target>/ (seed-*), and the
dictionaries of the JSON and TOML targets. Run from fuzz/: python3 seeds/make_seeds.py"""
import json, os, re, struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

def write(target, name, data):
    d = os.path.join(ROOT, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    open(os.path.join(d, "seed-" + name), "wb").write(data)

def mux(stream, payload):
    return bytes([stream, 0, 0, 0]) + struct.pack(">I", len(payload)) + payload

# demux: mode byte (bit 7 tty, bit 6 described frames, low 4 bits: read sizes that follow)
wire = mux(1, b"hello ") + mux(2, b"oops") + mux(1, b"") + mux(1, b"x" * 300)
write("demux", "valid-whole", bytes([0]) + wire)
write("demux", "valid-1byte-reads", bytes([1, 0]) + wire)
write("demux", "valid-odd-reads", bytes([3, 6, 2, 250]) + wire)
write("demux", "system-error", bytes([1, 4]) + mux(1, b"a") + mux(3, b"daemon broke"))
write("demux", "unknown-stream", bytes([0]) + mux(9, b"x"))
write("demux", "truncated", bytes([2, 3, 1]) + mux(1, b"abcdef")[:10])
write("demux", "tty", bytes([0x82, 0, 5]) + b"hello world\r\n\x1b[31mred\x1b[0m")
write("demux", "described", bytes([0x41, 2]) + bytes([1, 5]) + b"hello" + bytes([2, 3]) + b"err" + bytes([0, 0]))

# pull_progress: byte 0 low 4 bits = read sizes that follow
stream = (
    '{"status":"Pulling from berth/busybox","id":"latest"}\r\n'
    '{"status":"Pulling fs layer","progressDetail":{},"id":"0123456789ab"}\r\n'
    '{"status":"Downloading","progressDetail":{"current":10,"total":20},"progress":"[=>  ]","id":"0123456789ab"}\r\n'
    '{"status":"Extracting","progressDetail":{"current":20,"total":20},"id":"0123456789ab"}\r\n'
    '{"status":"Pull complete","progressDetail":{},"id":"0123456789ab"}\r\n'
    '{"status":"Digest: sha256:0123"}\r\n'
    '{"status":"Status: Downloaded newer image for busybox:latest"}'
)
write("pull_progress", "pull", b"\x00" + stream.encode())
write("pull_progress", "pull-pieces", b"\x03\x00\x07\x40" + stream.encode())
write("pull_progress", "error-detail", b"\x00" + b'{"status":"x"}\n{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}\n')
write("pull_progress", "auth", b"\x01\x10" + b'{"errorDetail":{"code":401,"message":"denied"}}')
write("pull_progress", "zero-total", b"\x00" + b'{"status":"Downloading","progressDetail":{"current":0,"total":0},"id":"a"}\n\n \r\n')
write("pull_progress", "not-json", b"\x00not json\n")

# client_message
msgs = {
    "run-argv": {"type": "run", "argv": ["--rm", "-it", "busybox", "sh"], "cols": 120, "rows": 40},
    "run-spec": {"type": "run", "spec": {"image": "busybox", "command": ["echo", "hi"], "tty": True, "memory": "64m"}},
    "run-engine": {"type": "run", "argv": ["busybox"], "engine": "two", "engine_labels": {"zone": "a"}},
    "watch": {"type": "watch"},
    "watch-from": {"type": "watch", "from": 1234},
    "resize": {"type": "resize", "cols": 80, "rows": 24},
    "signal": {"type": "signal", "signal": "SIGRTMIN+3"},
    "close-stdin": {"type": "close_stdin"},
    "detach": {"type": "detach"},
    "exec": {"type": "exec", "cmd": ["sh"], "tty": True, "interactive": True, "cols": 80, "rows": 24, "user": "root", "workdir": "/", "env": ["A=B"], "privileged": False},
}
for k, v in msgs.items():
    write("client_message", k, json.dumps(v))

# rest_body: byte 0 picks 0 run, 1 user, 2 login, 3 token, 4 registry, 5 session, 6 template
template = {"name": "shell", "title": "A BusyBox shell", "description": "Try a few commands.",
            "argv": ["-it", "--network", "none", "berth-fixture:latest", "sh"],
            "ttl_seconds": 900, "max_ttl_seconds": 1800, "idle_seconds": 300,
            "capacity": 20, "warm": 3, "access": "public"}
rest = [
    (0, "run-argv", {"argv": ["-d", "--name", "web", "-p", "8080:80", "-v", "data:/data", "nginx:1.27"]}),
    (0, "run-spec", {"spec": {"image": "busybox", "command": ["true"], "memory": "1g", "cpus": "0.5"}, "start": False}),
    (0, "run-both", {"argv": ["busybox"], "spec": {"image": "busybox"}}),
    (1, "user", {"username": "ann", "password": "a long password", "role": "admin", "team": "red"}),
    (2, "login", {"username": "ann", "password": "a long password"}),
    (3, "token", {"name": "  ci token  "}),
    (4, "registry", {"server": "https://Registry.Example.com:5000/v2/", "username": "u", "password": "p", "team": "red"}),
    (4, "registry-hub", {"server": "index.docker.io", "username": "u", "password": "p"}),
    (5, "session", {"cols": 80, "rows": 24}),
    (6, "template", template),
]
for which, k, v in rest:
    write("rest_body", k, bytes([which]) + json.dumps(v).encode())

# run_spec
specs = {
    "minimal": {"image": "busybox"},
    "rich": {"image": "127.0.0.1:5000/team/app:1", "command": ["sh", "-c", "echo hi"], "env": ["A=B", "C"],
             "publish": ["8080:80/tcp", "127.0.0.1::53/udp"], "volume": ["data:/data:ro", "/srv:/srv"],
             "mount": ["type=tmpfs,destination=/tmp,tmpfs-size=64m"], "memory": "512m", "memory_swap": "1g",
             "cpus": "1.5", "pids_limit": "100", "cap_add": ["NET_ADMIN"], "cap_drop": ["ALL"],
             "security_opt": ["no-new-privileges"], "ulimit": ["nofile=1024:2048"], "restart": "on-failure:3",
             "network": "none", "hostname": "h", "user": "1000:1000", "workdir": "/w", "tty": True,
             "interactive": True, "rm": True, "label": ["a=b"], "health_cmd": "true", "health_interval": "5s",
             "log_driver": "json-file", "log_opt": ["max-size=1m"], "device": ["/dev/fuse"], "sysctl": ["net.ipv4.ip_forward=1"]},
    "entrypoint": {"image": "alpine@sha256:" + "0" * 64, "entrypoint": "", "command": [], "detach": True, "name": "x"},
    "bad-flag-value": {"image": "busybox", "memory": "lots"},
}
for k, v in specs.items():
    write("run_spec", k, json.dumps(v))

# policy_file
example = open(os.path.join(ROOT, "..", "docs", "policy.example.toml")).read()
write("policy_file", "example", example)
write("policy_file", "guest-team", '''
[operator]
allowed_images = ["busybox:*", "**"]
max_memory = 1073741824
max_pids = 100
default_cpus = "0.25"
max_cpus = 1
[guest]
allowed_images = ["berth-fixture:*"]
max_memory = "256m"
max_cpus = 0.5
max_pids = 64
[team.red]
allowed_images = ["127.0.0.1:5000/red/**"]
allow_named_volumes = true
allowed_host_paths = ["/srv/red"]
max_memory = "2g"
''')
write("policy_file", "extra-plan", b'[operator]\nallowed_images = ["*"]\nmax_memory = "64m"\n\xff-m\x0032m\x00--pids-limit\x0010\x00busybox')
write("policy_file", "invalid", "[operator]\nmax_memory = \"1g\"\ndefault_memory = \"2g\"\n")
write("policy_file", "admin-table", "[admin]\nallow_privileged = true\n")

# template_body
write("template_body", "public", json.dumps(template))
t2 = dict(template, name="spec", access="users", argv=None, spec={"image": "busybox", "command": ["sh"], "tty": True, "interactive": True}, engine="local", engine_labels={"zone": "a"}, max_queue=5)
del t2["argv"]
write("template_body", "spec", json.dumps(t2))
write("template_body", "named", json.dumps(dict(template, argv=["--name", "x", "busybox"])))
write("template_body", "out-of-range", json.dumps(dict(template, ttl_seconds=5)))

# parse_run_args: NUL-separated words
for k, words in {
    "simple": ["--rm", "-it", "busybox", "sh"],
    "ports": ["-p", "8080:80", "-p", "127.0.0.1:53:53/udp", "-P", "nginx"],
    "mounts": ["-v", "data:/data:ro", "--mount", "type=bind,src=/srv,dst=/srv,readonly", "--tmpfs", "/tmp:size=64m", "alpine"],
    "resources": ["-m", "512m", "--memory-swap", "1g", "--cpus", "1.5", "--pids-limit", "100", "--ulimit", "nofile=1024:2048", "busybox"],
    "security": ["--cap-add=NET_ADMIN", "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--privileged", "busybox"],
    "env": ["-e", "A=B", "--env", "C", "-l", "a=b", "-w", "/w", "-u", "1000:1000", "busybox", "env"],
    "network": ["--network", "none", "--dns", "1.1.1.1", "--add-host", "h:1.2.3.4", "--hostname", "x", "busybox"],
    "health": ["--health-cmd", "true", "--health-interval", "5s", "--restart", "on-failure:3", "-d", "busybox"],
    "entrypoint": ["--entrypoint", "", "--name", "x", "--", "busybox", "--rm"],
}.items():
    write("parse_run_args", k, "\0".join(words))

# Dictionaries.
spec_fields = re.findall(r"^\s*pub ([a-z_0-9]+):", open(os.path.join(ROOT, "..", "shared", "src", "spec.rs")).read(), re.M)
json_tokens = ['"', ':', ',', '{', '}', '[', ']', 'true', 'false', 'null', '\\u0000', '\\"', '0', '-1', '1e400', '18446744073709551615', '4294967296', '65535', '65536']
def dict_file(name, words):
    with open(os.path.join(ROOT, name + ".dict"), "w") as f:
        f.write("# Generated by seeds/make_seeds.py.\n")
        for w in dict.fromkeys(words):
            # \xNN, \r and \n entries are bytes, other backslashes text; libFuzzer knows only \\, \" and \xNN escapes.
            raw = re.fullmatch(r"(\\x[0-9a-f]{2}|\\r|\\n)+", w)
            if raw:
                w = w.replace("\\r", "\\x0d").replace("\\n", "\\x0a")
            f.write('"' + (w if raw else w.replace("\\", "\\\\").replace('"', '\\"')) + '"\n')
spec_words = ['"%s":' % f for f in spec_fields] + json_tokens + ["busybox", "/dev/fuse", "host", "none", "container:web", "64m", "1.5", "8080:80", "type=bind,src=/,dst=/h", "ALL", "sys_admin"]
dict_file("run_spec", spec_words)
wire_words = ['"type":', '"run"', '"watch"', '"resize"', '"signal"', '"close_stdin"', '"detach"', '"exec"', '"argv":', '"spec":',
              '"start":', '"cols":', '"rows":', '"engine":', '"engine_labels":', '"from":', '"cmd":', '"tty":', '"interactive":',
              '"user":', '"workdir":', '"env":', '"privileged":', '"username":', '"password":', '"role":', '"admin"', '"operator"',
              '"viewer"', '"guest"', '"team":', '"name":', '"server":', '"title":', '"description":', '"ttl_seconds":',
              '"max_ttl_seconds":', '"idle_seconds":', '"capacity":', '"warm":', '"max_queue":', '"access":', '"public"', '"users"']
dict_file("client_message", wire_words + spec_words)
dict_file("rest_body", wire_words + spec_words + ["\\x00", "\\x01", "\\x02", "\\x03", "\\x04", "\\x05", "\\x06"])
dict_file("template_body", wire_words + spec_words)
dict_file("pull_progress", ['"status":', '"id":', '"progressDetail":', '"current":', '"total":', '"error":', '"errorDetail":',
                            '"code":', '"message":', '401', '\\r\\n', '\\n', '"Downloading"', '"Extracting"', '"Pull complete"'] + json_tokens)
rules = re.findall(r"^\s+([a-z_]+):", open(os.path.join(ROOT, "..", "server", "src", "policy", "mod.rs")).read().split("struct RulesFile")[1].split("impl Default")[0], re.M)
dict_file("policy_file", ["[operator]", "[guest]", "[team.red]", "[team.", " = ", "true", "false", '["*"]', '["**"]', '"512m"', '"1g"', "0.5", "0", "-1", "9223372036854775807", '"1.5GiB"', "\\xff", "\\x00", "-m", "--pids-limit", "--cpus", "--memory-swap", "--cpu-period", "--cpu-quota", "busybox"] + [r + " = " for r in rules])
