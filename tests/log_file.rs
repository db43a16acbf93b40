//! The session log file as the recorder writes it and `Log` reads it back:
//! large calls written in parts, a write cut short by the kernel, and a run
//! resumed after it was killed in the middle of a line. Each case runs in a
//! child process (the recorder is global).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use backstep::{tool, Log, LogReader, Record};

#[tool]
fn big(doc: &str, n: usize) -> String {
    format!("{doc}{n}")
}

#[tool]
fn small(n: u32) -> u32 {
    n + 1
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("backstep-log-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    let _ = std::fs::remove_file(&p);
    p
}

fn spawn(scenario: &str, path: &Path) -> Output {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("LOG_FILE_SCENARIO", scenario)
        .env("LOG_FILE_PATH", path)
        .env_remove("BACKSTEP_LOG")
        .env_remove("BACKSTEP")
        .env_remove("BACKSTEP_MEMORY")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{scenario}: {:?}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
#[ignore = "run by the tests below in a child process"]
fn child() {
    let scenario = std::env::var("LOG_FILE_SCENARIO").unwrap();
    let path = PathBuf::from(std::env::var("LOG_FILE_PATH").unwrap());
    match scenario.as_str() {
        "parts" => {
            let guard = backstep::init().log_file(&path).name("parts").install();
            // Over 4 KiB of inputs: written in parts; escapes, control
            // characters and characters of several bytes.
            let doc = "héllo \"wörld\" \\ \n\t\u{1}日本 😀 ".repeat(400);
            std::thread::scope(|s| {
                for t in 0..4 {
                    let doc = &doc;
                    s.spawn(move || {
                        for i in 0..50 {
                            big(doc, t * 100 + i);
                            small(u32::try_from(i).unwrap());
                        }
                    });
                }
            });
            big(&"y".repeat((1 << 18) + 3), 1);
            let live = backstep::log();
            drop(guard);
            let back = Log::open(&path).unwrap();
            assert_eq!(back.warnings(), [] as [String; 0]);
            assert_eq!(back.len(), 401);
            let lines = |log: &Log| -> Vec<String> {
                log.calls().iter().map(backstep::Call::to_jsonl).collect()
            };
            assert_eq!(lines(&back), lines(&live));
            let first = back.calls().iter().find(|c| c.tool() == "big").unwrap();
            let n: usize = first.input("n").unwrap();
            assert_eq!(first.input::<String>("doc").unwrap(), doc);
            assert_eq!(first.output::<String>().unwrap(), format!("{doc}{n}"));
            let streamed = LogReader::open(&path)
                .unwrap()
                .filter(|r| matches!(r, Ok(Record::Call(_))))
                .count();
            assert_eq!(streamed, 401);
        }
        "short_write" => {
            // The file may grow only to a set size, so the kernel cuts the
            // `writev` of a line short, somewhere inside a two-byte character.
            // SAFETY: plain libc calls on this (child) process.
            unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
            let _guard = backstep::init().log_file(&path).install();
            small(0);
            let doc = "é".repeat(3000);
            // Four offsets: one of each parity lands inside a character.
            for n in 0..4 {
                let size = std::fs::metadata(&path).unwrap().len();
                let limit = libc::rlimit {
                    rlim_cur: size + 100 + n as u64,
                    rlim_max: libc::RLIM_INFINITY,
                };
                // SAFETY: as above.
                unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &limit) };
                assert_eq!(big(&doc, n), format!("{doc}{n}"));
            }
            // Still recorded in memory.
            assert_eq!(backstep::log().len(), 5);
        }
        // Limit 0: a line cut short, one not written at all, then the file
        // takes lines again. The next line is not glued onto the cut one,
        // and the two calls the file lost are kept in memory.
        "cut_then_recover" => {
            // SAFETY: plain libc calls on this (child) process.
            unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
            let guard = backstep::init().log_file(&path).memory_limit(0).install();
            small(0);
            let size = std::fs::metadata(&path).unwrap().len();
            let set = |cur| {
                let limit = libc::rlimit {
                    rlim_cur: cur,
                    rlim_max: libc::RLIM_INFINITY,
                };
                // SAFETY: as above.
                unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &limit) };
            };
            set(size + 100);
            small(1); // cut after 100 bytes
            small(2); // not written: the file is at its limit
            set(libc::RLIM_INFINITY);
            small(3);
            small(4);
            let kept: Vec<u32> = backstep::log()
                .iter()
                .map(|c| c.input("n").unwrap())
                .collect();
            assert_eq!(kept, [1, 2]);
            drop(guard);
        }
        // Threads writing right after lines cut short, over and over: no
        // line of theirs lands on a cut one, and no call is lost.
        "threads_cut" => {
            const ROUNDS: u32 = 100;
            // SAFETY: plain libc calls on this (child) process.
            unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
            let set = |cur| {
                let limit = libc::rlimit {
                    rlim_cur: cur,
                    rlim_max: libc::RLIM_INFINITY,
                };
                // SAFETY: as above.
                unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &limit) };
            };
            let guard = backstep::init().log_file(&path).memory_limit(0).install();
            let barrier = std::sync::Barrier::new(5);
            std::thread::scope(|s| {
                for t in 0..4 {
                    let barrier = &barrier;
                    s.spawn(move || {
                        small(1000 + t);
                        barrier.wait();
                        for r in 0..ROUNDS {
                            barrier.wait();
                            small(10_000 + r * 10 + t);
                            barrier.wait();
                        }
                    });
                }
                barrier.wait();
                for r in 0..ROUNDS {
                    set(std::fs::metadata(&path).unwrap().len() + 30);
                    small(r); // cut after 30 bytes
                    set(libc::RLIM_INFINITY);
                    barrier.wait();
                    barrier.wait();
                }
            });
            let kept: Vec<u32> = backstep::log()
                .iter()
                .map(|c| c.input("n").unwrap())
                .collect();
            println!("kept {}", serde_json::to_string(&kept).unwrap());
            drop(guard);
        }
        "record" => {
            let _guard = backstep::init().log_file(&path).install();
            small(0);
            small(1);
        }
        "resume" => {
            let _guard = backstep::init().resume(&path).install();
            assert_eq!((small(0), small(1), small(2)), (1, 2, 3));
        }
        other => panic!("unknown scenario {other}"),
    }
}

#[test]
fn large_calls_written_in_parts_read_back_as_recorded() {
    spawn("parts", &temp("parts.jsonl"));
}

#[test]
fn a_write_cut_short_inside_a_character_warns_once_and_the_call_returns() {
    let path = temp("short.jsonl");
    let out = spawn("short_write", &path);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("backstep: warning"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].starts_with(&format!(
            "backstep: warning: cannot write to the session log {}: ",
            path.display()
        )),
        "{stderr}"
    );
    // What reached the file reads back: the whole first call, then the
    // four lines the file size limit cut, each on a line of its own.
    let log = Log::open(&path).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log.calls()[0].output::<u32>().unwrap(), 1);
    let name = path.display();
    let expected = [
        format!("{name}:3: a line cut off"),
        format!("{name}:4: a line cut off"),
        format!("{name}:5: a line cut off"),
        format!("{name}:6: last line is cut off"),
    ];
    assert_eq!(log.warnings().len(), 4, "{:?}", log.warnings());
    for (w, e) in log.warnings().iter().zip(&expected) {
        assert!(w.starts_with(e.as_str()), "{w:?} does not start with {e:?}");
    }
}

#[test]
fn a_run_killed_mid_line_and_resumed_leaves_a_readable_log() {
    let path = temp("resume.jsonl");
    spawn("record", &path);
    // As if killed while writing a third line: no end line, a cut line.
    let text = std::fs::read_to_string(&path).unwrap();
    let kept: String = text
        .lines()
        .filter(|l| !l.contains(r#""type":"end""#))
        .map(|l| format!("{l}\n"))
        .collect();
    let cut = &kept.lines().nth(1).unwrap()[..60];
    std::fs::write(&path, format!("{kept}{cut}")).unwrap();
    assert_eq!(Log::open(&path).unwrap().len(), 2);
    spawn("resume", &path);
    let log = Log::open(&path).unwrap();
    let calls: Vec<(u64, u32, bool)> = log
        .calls()
        .iter()
        .map(|c| (c.seq(), c.input("n").unwrap(), c.replayed()))
        .collect();
    assert_eq!(calls, [(0, 0, false), (1, 1, false), (2, 2, false)]);
    assert_eq!(log.warnings().len(), 1, "{:?}", log.warnings());
    assert!(
        log.warnings()[0].contains(
            ":4: a line cut off when its run stopped (not a JSON record: EOF while parsing"
        ),
        "{:?}",
        log.warnings()
    );
}

#[test]
fn after_a_line_cut_short_the_next_lines_read_back_and_the_lost_calls_stay_in_memory() {
    let path = temp("cut.jsonl");
    let out = spawn("cut_then_recover", &path);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr
            .matches("backstep: warning: cannot write to the session log")
            .count(),
        1,
        "{stderr}"
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}");
    assert_eq!(lines[2].len(), 100, "the cut line: {text}");
    let log = Log::open(&path).unwrap();
    let inputs: Vec<u32> = log.iter().map(|c| c.input("n").unwrap()).collect();
    assert_eq!(inputs, [0, 3, 4]);
    assert_eq!(log.warnings().len(), 1, "{:?}", log.warnings());
    assert!(
        log.warnings()[0].contains(":3: a line cut off"),
        "{:?}",
        log.warnings()
    );
    // The end line counts every call, the two the file lost too.
    let end = log.sessions()[0].ended().unwrap();
    assert_eq!(end.calls(), 5);
}

#[test]
fn threads_writing_after_lines_cut_short_lose_no_call() {
    let path = temp("threads-cut.jsonl");
    let out = spawn("threads_cut", &path);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let kept: Vec<u32> = stdout
        .lines()
        .find_map(|l| l.split_once("kept ").map(|(_, k)| k))
        .map(|k| serde_json::from_str(k).unwrap())
        .expect("the child prints the calls kept in memory");
    // Every cut call is in memory, and only those.
    assert_eq!(kept, (0..100).collect::<Vec<u32>>());
    let log = Log::open(&path).unwrap();
    let mut written: Vec<u32> = log.iter().map(|c| c.input("n").unwrap()).collect();
    written.sort_unstable();
    let mut expected: Vec<u32> = (1000..1004).collect();
    expected.extend((0..100).flat_map(|r| (0..4).map(move |t| 10_000 + r * 10 + t)));
    expected.sort_unstable();
    assert_eq!(written, expected);
    assert_eq!(log.warnings().len(), 100, "{:?}", &log.warnings()[..3]);
    assert_eq!(log.sessions()[0].ended().unwrap().calls(), 504);
}
