//! Output sets under hostile conditions: a run killed at any moment never leaves a folder that
//! reads as one run's results while holding another's, two commands never write one folder, and
//! a full disk gets exit 2 and no half files.

mod common;

use common::{ok, repo, scratch, servesim, stderr};
use std::process::{Command, Stdio};
use std::time::Duration;

fn temporaries(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[cfg(unix)]
#[test]
fn a_run_killed_at_any_moment_leaves_a_complete_set_or_one_that_report_refuses() {
    let dir = scratch("kill-run");
    let out = dir.join("out");
    let out_text = out.to_str().unwrap();
    let scenario = repo("scenarios/quickstart.toml");
    ok(servesim(&["run", &scenario, "--out", out_text, "--seed", "1", "-q"]));
    let (mut complete, mut refused) = (0, 0);
    for step in 0..12u64 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_servesim"))
            .args(["run", &scenario, "--out", out_text, "--seed", &(2 + step).to_string(), "-q"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(40 + 110 * step));
        child.kill().unwrap(); // SIGKILL: no handler runs
        child.wait().unwrap();
        let report = servesim(&["report", out_text]);
        if report.status.success() {
            complete += 1;
        } else {
            assert_eq!(report.status.code(), Some(2), "{}", stderr(&report));
            assert!(stderr(&report).contains("not a complete output set"), "{}", stderr(&report));
            refused += 1;
        }
    }
    // The kills fell both inside and after the writes, or the test proves nothing.
    assert!(refused > 0, "no kill landed while a run was writing ({complete} complete)");
    // The next run finishes the folder and leaves no temporary file of the killed ones.
    ok(servesim(&["run", &scenario, "--out", out_text, "--seed", "1", "-q"]));
    ok(servesim(&["report", out_text]));
    assert_eq!(temporaries(&out), Vec::<String>::new());
}

#[test]
fn a_file_from_another_run_is_caught_by_name() {
    let dir = scratch("mixed-set");
    let (first, second) = (dir.join("first"), dir.join("second"));
    let scenario = repo("scenarios/mmc.toml");
    for (out, seed) in [(&first, "1"), (&second, "2")] {
        ok(servesim(&["run", &scenario, "--out", out.to_str().unwrap(), "--seed", seed, "-q", "--no-uncertainty"]));
    }
    std::fs::copy(second.join("summary.json"), first.join("summary.json")).unwrap();
    let report = servesim(&["report", first.to_str().unwrap()]);
    assert_eq!(report.status.code(), Some(2));
    assert!(stderr(&report).contains("summary.json: differs from what the run wrote"), "{}", stderr(&report));
}

#[test]
fn two_runs_into_one_folder_at_once_are_refused() {
    let dir = scratch("concurrent-run");
    let out = dir.join("out");
    let scenario = repo("scenarios/quickstart.toml");
    let mut first = Command::new(env!("CARGO_BIN_EXE_servesim"))
        .args(["run", &scenario, "--out", out.to_str().unwrap(), "-q"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the first run to take the lock.
    let lock = out.join(".servesim.lock");
    for _ in 0..200 {
        if lock.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let second = servesim(&["run", &scenario, "--out", out.to_str().unwrap(), "-q"]);
    let first_status = first.wait().unwrap();
    assert!(first_status.success());
    // The second either found the folder locked or (on a very fast machine) ran after the first.
    if !second.status.success() {
        assert_eq!(second.status.code(), Some(2));
        assert!(stderr(&second).contains("another servesim command is writing"), "{}", stderr(&second));
    }
    ok(servesim(&["report", out.to_str().unwrap()]));
}

#[cfg(unix)]
#[test]
fn a_link_planted_in_the_output_folder_is_replaced_not_written_through() {
    let dir = scratch("planted-link");
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let victim = dir.join("victim.txt");
    std::fs::write(&victim, "keep me").unwrap();
    std::os::unix::fs::symlink(&victim, out.join("summary.json")).unwrap();
    std::os::unix::fs::symlink(&victim, out.join(".summary.json.1.0.tmp")).unwrap();
    ok(servesim(&["run", &repo("scenarios/mmc.toml"), "--out", out.to_str().unwrap(), "-q", "--no-uncertainty"]));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    assert!(std::fs::symlink_metadata(out.join("summary.json")).unwrap().is_file());
    assert_eq!(temporaries(&out), Vec::<String>::new());
}

/// Needs root and a kernel that lets it mount a tmpfs; skipped with a message otherwise.
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_gets_exit_2_and_leaves_no_half_files() {
    let dir = scratch("full-disk");
    let mount = dir.join("small");
    std::fs::create_dir_all(&mount).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=48k", "tmpfs", mount.to_str().unwrap()])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: cannot mount a small tmpfs here (needs root and CAP_SYS_ADMIN)");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mount.clone());
    let out = mount.join("out");
    // The quickstart's report alone is larger than the disk.
    let full = servesim(&["run", &repo("scenarios/quickstart.toml"), "--out", out.to_str().unwrap(), "-q"]);
    assert_eq!(full.status.code(), Some(2), "{}", stderr(&full));
    let message = stderr(&full);
    assert_eq!(message.trim().lines().count(), 1, "{message}");
    assert!(message.contains("No space left on device"), "{message}");
    assert!(!message.contains("panicked"), "{message}");
    assert_eq!(temporaries(&out), Vec::<String>::new());
    assert!(!out.join("manifest.json").exists());
    let report = servesim(&["report", out.to_str().unwrap()]);
    assert_eq!(report.status.code(), Some(2));
}
