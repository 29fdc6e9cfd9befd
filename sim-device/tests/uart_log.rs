//! `sim-device --uart-log`: the UART a HIL rig watches. The readiness line ESP-IDF's CI waits for, a panic
//! the console on the same UART, and stdin's end powering the board off. (That a log line never splits a
//! console line is the UART writer's unit test: the race cannot be forced from outside.)

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const READY: &str = "wifi_prov_mgr: Provisioning started with service name : PROV_";

fn start(args: &[&str]) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sim-device"))
        .args(["--uart-log", "--no-control", "--chip", "esp32c3"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sim-device");
    let lines = read_lines(child.stdout.take().expect("stdout"));
    (child, lines)
}

fn read_lines(out: ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Lines up to and including the first that contains `want`.
fn until(lines: &mpsc::Receiver<String>, want: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) => {
                let done = line.contains(want);
                seen.push(line);
                if done {
                    return seen;
                }
            }
            Err(_) => break,
        }
    }
    panic!("no line with {want:?}; saw {seen:#?}");
}

fn exits_within(child: &mut Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}

#[test]
fn a_softap_board_prints_the_readiness_line_and_powers_off_when_its_uart_closes() {
    let (mut child, lines) = start(&["--transport", "softap", "--listen", "127.0.0.1:0"]);
    let boot = until(&lines, READY);
    assert!(
        boot.iter()
            .any(|l| l.contains("cpu_start: Starting scheduler")),
        "{boot:#?}"
    );
    drop(child.stdin.take());
    assert!(
        exits_within(&mut child, Duration::from_secs(5)),
        "sim-device kept running after its stdin closed"
    );
}

#[test]
fn the_console_shares_the_uart_and_ends_with_stdin() {
    let (mut child, lines) = start(&["--transport", "console", "--security", "1"]);
    until(&lines, READY);
    let mut stdin = child.stdin.take().expect("stdin");
    // SessionCommand0 (ESP-IDF's sec1 vector), in several sessions.
    let cmd0 = "10015a25a201220a20778784a5da6805d46a1b3b6485c3672f866faffb584e4f2e073e36707cc83d0b";
    for round in 0..3 {
        stdin
            .write_all(format!("prov-session {round} {cmd0}\r").as_bytes())
            .expect("write");
        let reply = until(&lines, "prov-session");
        let echo = reply.last().expect("the echo line");
        assert!(
            echo.trim_end().ends_with(cmd0),
            "the echo line was split: {echo:?}"
        );
        let answer = until(&lines, "10015a");
        let hex = answer.last().expect("the answer line").trim();
        assert!(
            hex.chars().all(|c| c.is_ascii_hexdigit()),
            "the answer line was split: {hex:?}"
        );
    }
    drop(stdin);
    assert!(exits_within(&mut child, Duration::from_secs(5)));
}

#[test]
fn a_crash_shows_a_panic_then_the_rom_banner_then_the_readiness_line_again() {
    let (mut child, lines) = start(&[
        "--transport",
        "console",
        "--security",
        "0",
        "--misbehave",
        "crash-on-missing-payload",
    ]);
    until(&lines, READY);
    let mut stdin = child.stdin.take().expect("stdin");
    // ESP-IDF's sec0 vector: S0_Session_Command, then a ScanStart with no cmd_scan_start.
    stdin.write_all(b"prov-session 0 5203a20100\r").unwrap();
    until(&lines, "52050801aa0100");
    stdin.write_all(b"prov-scan 0 0800\r").unwrap();
    let panic = until(&lines, "Guru Meditation Error");
    assert!(
        panic.iter().all(|l| !l.contains("rst:0x")),
        "the panic comes first: {panic:#?}"
    );
    let banner = until(&lines, "rst:0x");
    assert!(
        banner.last().is_some_and(|l| l.contains("rst:0xc")),
        "a panic resets the CPU by software: {banner:#?}"
    );
    until(&lines, READY);
    drop(stdin);
    assert!(exits_within(&mut child, Duration::from_secs(5)));
}
