//! Helpers shared by the tests: run the built `backstep` binary, write logs.
#![allow(dead_code)] // each test file uses a part

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// What a run of the binary gave.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `backstep ARGS` with 100 columns and no colour; `stdin` is fed in.
pub fn backstep(args: &[&str], stdin: Option<&str>) -> Run {
    backstep_env(args, stdin, &[("COLUMNS", "100")])
}

/// As [`backstep`], with these environment variables.
pub fn backstep_env(args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_backstep"));
    cmd.args(args)
        .env_remove("NO_COLOR")
        .env_remove("COLUMNS")
        .env("RUST_BACKTRACE", "1") // a panic would show one: it must not happen
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run backstep");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(text.as_bytes()).unwrap();
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().unwrap();
    let run = Run {
        code: status.code().expect("exited normally"),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    };
    assert!(
        !run.stderr.contains("panicked at")
            && !run.stderr.contains("RUST_BACKTRACE")
            && !run.stderr.contains("internal error"),
        "backstep panicked: {}",
        run.stderr
    );
    run
}

/// A fresh directory for one test under the target directory.
pub fn dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("backstep-cli")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes `text` to `dir/name` and gives its path as a string.
pub fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

/// One call line; `start_us` is microseconds after 2026-12-03T19:00:00Z.
#[allow(clippy::too_many_arguments)]
pub fn call(
    session: &str,
    seq: u64,
    parent: Option<u64>,
    tool: &str,
    inputs: &str,
    output: &str,
    status: &str,
    error: Option<&str>,
    start_us: u64,
    duration_ms: &str,
    cost: &str,
) -> String {
    let parent = parent.map_or("null".to_string(), |p| p.to_string());
    let error = error.map_or("null".to_string(), |e| {
        serde_json::Value::String(e.to_string()).to_string()
    });
    format!(
        r#"{{"type":"call","session":"{session}","seq":{seq},"parent":{parent},"tool":"{tool}","inputs":{inputs},"output":{output},"status":"{status}","error":{error},"started_at":"{}","duration_ms":{duration_ms},"cost_usd":{cost},"thread":"main"}}"#,
        time(start_us)
    )
}

/// `2026-12-03T19:MM:SS.ffffffZ`, `us` microseconds after 19:00:00.
pub fn time(us: u64) -> String {
    let secs = us / 1_000_000;
    format!(
        "2026-12-03T{:02}:{:02}:{:02}.{:06}Z",
        19 + secs / 3600,
        secs / 60 % 60,
        secs % 60,
        us % 1_000_000
    )
}

pub fn header(session: &str, name: &str, pid: u32, start_us: u64) -> String {
    format!(
        r#"{{"type":"session","session":"{session}","name":"{name}","started_at":"{}","pid":{pid},"backstep_version":"0.1.0","format":1}}"#,
        time(start_us)
    )
}

pub fn end(
    session: &str,
    end_us: u64,
    calls: u64,
    errors: u64,
    panicked: u64,
    cancelled: u64,
    cost: &str,
) -> String {
    format!(
        r#"{{"type":"end","session":"{session}","ended_at":"{}","calls":{calls},"errors":{errors},"panicked":{panicked},"cancelled":{cancelled},"cost_usd":{cost}}}"#,
        time(end_us)
    )
}

/// A small agent run, as the recorder writes it (a child's line before its
/// parent's): planning, a failed and a good analysis, a paid search that
/// panicked, a cancelled fetch.
pub fn agent_log(session: &str) -> String {
    let s = session;
    let lines = [
        header(s, "agent", 4242, 0),
        call(
            s,
            0,
            None,
            "plan",
            r#"{"goal":"audit"}"#,
            r#"["a.rs","b.rs"]"#,
            "ok",
            None,
            100,
            "1.25",
            "0",
        ),
        call(
            s,
            2,
            Some(1),
            "read_file",
            r#"{"path":"./a.rs"}"#,
            "null",
            "error",
            Some("No such file or directory (os error 2)"),
            1_500,
            "0.0065",
            "0",
        ),
        call(
            s,
            1,
            None,
            "analyze",
            r#"{"path":"./a.rs"}"#,
            "null",
            "error",
            Some("No such file or directory (os error 2)"),
            1_450,
            "0.07",
            "0",
        ),
        call(
            s,
            4,
            Some(3),
            "read_file",
            r#"{"path":"./b.rs"}"#,
            r#""fn main() {}""#,
            "ok",
            None,
            1_700,
            "0.5",
            "0",
        ),
        call(
            s,
            5,
            Some(3),
            "summarize",
            r#"{"path":"./b.rs","tokens":2000}"#,
            r#"{"heading":"b","keywords":["main"]}"#,
            "ok",
            None,
            2_300,
            "12.5",
            "0.0004",
        ),
        call(
            s,
            3,
            None,
            "analyze",
            r#"{"path":"./b.rs"}"#,
            r#"{"lines":1}"#,
            "ok",
            None,
            1_600,
            "13.75",
            "0",
        ),
        call(
            s,
            6,
            None,
            "search",
            r#"{"query":"rust cli","limit":3}"#,
            "null",
            "panicked",
            Some("index out of bounds: the len is 0 but the index is 0"),
            16_000,
            "250",
            "0.01",
        ),
        call(
            s,
            7,
            None,
            "fetch",
            r#"{"url":"https://example.com/a"}"#,
            "null",
            "cancelled",
            None,
            270_000,
            "1500",
            "0",
        ),
        end(s, 1_800_000, 8, 2, 1, 1, "0.0104"),
    ];
    lines.join("\n") + "\n"
}

/// A call that returned `null` from `{}` in 1 ms, starting at `seq` × 10 µs.
#[allow(dead_code)] // not every test binary uses it
pub fn ok_call(session: &str, seq: u64, parent: Option<u64>, tool: &str, cost: &str) -> String {
    call(
        session,
        seq,
        parent,
        tool,
        "{}",
        "null",
        "ok",
        None,
        seq * 10,
        "1",
        cost,
    )
}

/// A hand-made log whose parent links loop: 1 → 2 → 1 and 3 → 3, with call 4
/// nested under `leaf_parent` (a call of the loop), and 0 at the top.
#[allow(dead_code)] // not every test binary uses it
pub fn looping_log(dir: &Path, session: &str, leaf_parent: u64) -> String {
    let line = |seq: u64, parent: Option<u64>, tool: &str| ok_call(session, seq, parent, tool, "0");
    let lines = [
        line(0, None, "plan"),
        line(1, Some(2), "step"),
        line(2, Some(1), "substep"),
        line(3, Some(3), "selfish"),
        line(4, Some(leaf_parent), "leaf"),
    ];
    write(dir, "loop.jsonl", &(lines.join("\n") + "\n"))
}

/// Marks a call line as answered from a recording, as the recorder does.
pub fn replayed(line: String) -> String {
    line.replacen(
        r#""thread":"main"}"#,
        r#""thread":"main","replayed":true}"#,
        1,
    )
}

/// A replay: four calls answered from the recording (their recorded costs
/// $0.0104 in all, their recorded durations far longer than the replay's
/// 1 ms), and one `live` tool that ran and cost $0.001.
pub fn replay_log(session: &str) -> String {
    let s = session;
    let lines = [
        header(s, "agent", 5151, 0),
        replayed(call(
            s,
            0,
            None,
            "plan",
            r#"{"goal":"audit"}"#,
            r#"["b.rs"]"#,
            "ok",
            None,
            100,
            "1.25",
            "0",
        )),
        replayed(call(
            s,
            2,
            Some(1),
            "summarize",
            r#"{"path":"./b.rs"}"#,
            r#""b""#,
            "ok",
            None,
            210,
            "12.5",
            "0.0004",
        )),
        replayed(call(
            s,
            1,
            None,
            "analyze",
            r#"{"path":"./b.rs"}"#,
            r#"{"lines":1}"#,
            "ok",
            None,
            200,
            "13.75",
            "0",
        )),
        replayed(call(
            s,
            3,
            None,
            "search",
            r#"{"query":"rust"}"#,
            "null",
            "error",
            Some("rate limited"),
            300,
            "250",
            "0.01",
        )),
        call(
            s,
            4,
            None,
            "clock",
            "{}",
            r#""19:00""#,
            "ok",
            None,
            400,
            "0.1",
            "0.001",
        ),
        end(s, 1_000, 5, 1, 0, 0, "0.0114"),
    ];
    lines.join("\n") + "\n"
}
