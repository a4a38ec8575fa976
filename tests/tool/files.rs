//! What a run does to files: it never replaces an earlier run, never writes through a link
//! planted in its folder, and removes what an interrupted write left behind.

use super::*;

fn bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

#[cfg(unix)]
fn is_plain_file(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_file())
}

#[test]
fn a_new_run_never_replaces_an_earlier_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    train(&out, "4", &[]);
    let ckpt = out.join("checkpoint.safetensors");
    let saved = bytes(&ckpt);
    std::fs::write(out.join("notes.txt"), b"mine").unwrap();

    // The same command typed again: refused, with the ways forward, and nothing touched.
    let err = fails(
        &[
            "--iterations",
            "2",
            "--batch-size",
            "4",
            "--out-dir",
            s(&out),
            "--eval-every",
            "0",
        ],
        "holds a run",
    );
    assert!(
        err.contains(&format!("--resume {}", ckpt.display()))
            && err.contains("--overwrite")
            && err.lines().count() == 1,
        "{err}"
    );
    assert_eq!(bytes(&ckpt), saved, "the checkpoint was touched");

    // --overwrite starts over: the earlier run's files go (its grid at iteration 4 too), the
    // user's own file stays.
    train(&out, "2", &["--overwrite"]);
    assert!(!out.join("samples_000004.png").exists());
    assert!(out.join("samples_000002.png").is_file());
    assert_eq!(bytes(&out.join("notes.txt")), b"mine");
    assert_eq!(load(&ckpt).iteration, 2);

    // A folder with a run's files but no checkpoint (one stopped before its first) is a run too.
    let partial = dir.path().join("partial");
    std::fs::create_dir(&partial).unwrap();
    std::fs::write(partial.join("losses.csv"), b"iteration\n").unwrap();
    fails(
        &["--iterations", "2", "--out-dir", s(&partial)],
        "holds another run's files (losses.csv)",
    );

    // Resuming writes into the checkpoint's folder or one without a run, never over another.
    let other = dir.path().join("other");
    train(&other, "2", &[]);
    let other_ckpt = bytes(&other.join("checkpoint.safetensors"));
    fails(
        &[
            "--resume",
            s(&ckpt),
            "--iterations",
            "4",
            "--out-dir",
            s(&other),
        ],
        "holds another run's files",
    );
    assert_eq!(bytes(&other.join("checkpoint.safetensors")), other_ckpt);
    let fresh = dir.path().join("fresh");
    train(&fresh, "4", &["--resume", s(&ckpt)]);
    assert_eq!(load(&fresh.join("checkpoint.safetensors")).iteration, 4);
    fails(
        &["--resume", s(&ckpt), "--overwrite"],
        "cannot be used with",
    );
}

#[cfg(unix)]
#[test]
fn writes_never_follow_planted_links_and_leftovers_are_removed() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let victims = dir.path().join("victims");
    std::fs::create_dir(&victims).unwrap();
    let victim = |name: &str| {
        let p = victims.join(name);
        std::fs::write(&p, format!("the user's {name}")).unwrap();
        p
    };
    let untouched = |p: &Path| {
        let name = p.file_name().unwrap().to_str().unwrap();
        assert_eq!(
            std::fs::read_to_string(p).unwrap(),
            format!("the user's {name}"),
            "written through a link"
        );
    };

    // A shared folder where someone planted the old fixed temporary name and one of ours.
    let out = dir.path().join("shared");
    std::fs::create_dir(&out).unwrap();
    let (a, b) = (victim("a"), victim("b"));
    symlink(&a, out.join("checkpoint.tmp")).unwrap();
    symlink(&b, out.join(".dcgan-wgpu-planted.tmp")).unwrap();
    std::fs::write(out.join(".dcgan-wgpu-killed.tmp"), b"half a checkpoint").unwrap();
    train(&out, "2", &[]);
    untouched(&a);
    untouched(&b);
    for f in ["checkpoint.safetensors", "losses.csv", "samples_000002.png"] {
        assert!(is_plain_file(&out.join(f)), "{f} is not a file of its own");
    }
    for f in [
        "checkpoint.tmp",
        ".dcgan-wgpu-planted.tmp",
        ".dcgan-wgpu-killed.tmp",
    ] {
        assert!(
            std::fs::symlink_metadata(out.join(f)).is_err(),
            "leftover {f} kept"
        );
    }

    // Links planted in place of the run's own files, then the run resumed: each file is
    // replaced (the link itself), never what it points to.
    let targets: Vec<(&str, PathBuf)> = [
        "losses.csv",
        "losses.png",
        "samples_000004.png",
        "progress.png",
    ]
    .iter()
    .map(|f| (*f, victim(&format!("{f}.victim"))))
    .collect();
    for (f, v) in &targets {
        std::fs::remove_file(out.join(f)).ok();
        symlink(v, out.join(f)).unwrap();
    }
    train(
        &out,
        "4",
        &["--resume", s(&out.join("checkpoint.safetensors"))],
    );
    for (f, v) in &targets {
        untouched(v);
        assert!(is_plain_file(&out.join(f)), "{f} is still a link");
    }
    assert_eq!(load(&out.join("checkpoint.safetensors")).iteration, 4);

    // A new run into a folder whose run files are links: refused; with --overwrite the links
    // are removed, not their targets.
    let linked = dir.path().join("linked");
    std::fs::create_dir(&linked).unwrap();
    let c = victim("c");
    symlink(&c, linked.join("checkpoint.safetensors")).unwrap();
    fails(
        &["--iterations", "2", "--out-dir", s(&linked)],
        "holds a run",
    );
    train(&linked, "2", &["--overwrite"]);
    untouched(&c);
    assert!(is_plain_file(&linked.join("checkpoint.safetensors")));

    // Output files are as readable as any the user makes, not private temporary files.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(out.join("losses.png"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o044, 0o044, "mode {mode:o}");
}
