//! How the command line touches files: reads bounded by what the format can hold, writes that
//! never follow a planted link and never leave a half-written file, and the run folder that a
//! new run may not take over from an earlier one.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use dcgan_wgpu::checkpoint;

/// Temporary files start with this and end in `.tmp`: what a later run in the folder removes
/// as the leftover of an interrupted write (`kill -9` between create and rename).
const TMP_PREFIX: &str = ".dcgan-wgpu-";
const TMP_SUFFIX: &str = ".tmp";
/// What versions before the random names left behind.
const LEGACY_TMP: &str = "checkpoint.tmp";

/// Reads at most `limit` bytes of `path`: a file (or a device, or a planted link to one) larger
/// than the format can be is an error before it fills the memory. `what` names it in errors.
pub fn read_bounded(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>> {
    let file =
        File::open(path).with_context(|| format!("cannot read {what} {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {what} {}", path.display()))?;
    if bytes.len() as u64 > limit {
        bail!(
            "{what} {} is larger than {limit} bytes, the most such a file can hold",
            path.display()
        );
    }
    Ok(bytes)
}

/// Writes `bytes` to a new file in `path`'s folder (created exclusively under a random name,
/// so never through a link planted there), syncs it, then renames it over `path` (which
/// replaces a link at `path` itself, not what it points to): a crash leaves either the old file
/// or the new one, and at worst a `.dcgan-wgpu-*.tmp` that the next run removes.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let fail = || format!("cannot write {}", path.display());
    let mut tmp = temp_beside(path).with_context(fail)?;
    tmp.write_all(bytes).with_context(fail)?;
    tmp.as_file().sync_all().with_context(fail)?;
    tmp.persist(path).map_err(|e| e.error).with_context(fail)?;
    sync_dir(path);
    Ok(())
}

/// Creates `path` afresh (atomically, as [`write_atomically`]) with `bytes`, and returns the
/// open file to append to: the handle is the file this program made, whatever is planted at
/// `path` later.
pub fn create_for_append(path: &Path, bytes: &[u8]) -> Result<File> {
    let fail = || format!("cannot write {}", path.display());
    let mut tmp = temp_beside(path).with_context(fail)?;
    tmp.write_all(bytes).with_context(fail)?;
    let file = tmp.persist(path).map_err(|e| e.error).with_context(fail)?;
    sync_dir(path);
    Ok(file)
}

fn temp_beside(path: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    let dir = folder_of(path);
    std::fs::create_dir_all(dir)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(TMP_PREFIX).suffix(TMP_SUFFIX);
    // Readable as any file the user makes (the umask applies), not tempfile's private 0600.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    builder.tempfile_in(dir)
}

fn folder_of(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Makes a rename durable (Linux, macOS); where a folder cannot be opened (Windows) the rename
/// is as durable as the platform makes it.
fn sync_dir(path: &Path) {
    if let Ok(dir) = File::open(folder_of(path)) {
        let _ = dir.sync_all();
    }
}

/// Creates `dir` if missing and proves it is writable (with an unnamed file: nothing to follow,
/// nothing left behind).
pub fn prepare_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the output directory {}", dir.display()))?;
    tempfile::tempfile_in(dir)
        .and_then(|mut f| f.write_all(b"ok"))
        .with_context(|| format!("the output directory {} is not writable", dir.display()))?;
    Ok(())
}

/// What a run writes into its folder: what marks a folder as holding a run, and what
/// `--overwrite` removes (nothing else in the folder is touched).
fn is_run_file(name: &str) -> bool {
    name == checkpoint::FILE_NAME
        || ["losses.csv", "losses.png", "progress.png"].contains(&name)
        || name
            .strip_prefix("samples_")
            .and_then(|n| n.strip_suffix(".png"))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn is_leftover(name: &str) -> bool {
    (name.starts_with(TMP_PREFIX) && name.ends_with(TMP_SUFFIX)) || name == LEGACY_TMP
}

/// How a run takes its folder.
pub enum Claim<'a> {
    /// A new run; `overwrite` removes an earlier run's files first.
    New { overwrite: bool },
    /// Continuing the run saved in this checkpoint.
    Resume { checkpoint: &'a Path },
}

/// Makes `dir` this run's: creates it, refuses one that holds another run's work, and removes
/// the leftovers of interrupted writes. A new run never replaces a run's files unless told to
/// (`--overwrite`); a resumed run continues in its checkpoint's folder, or in one without a run.
pub fn claim_run_dir(dir: &Path, claim: Claim) -> Result<()> {
    prepare_dir(dir)?;
    let names: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list the output directory {}", dir.display()))?
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    let run_files: Vec<&String> = names.iter().filter(|n| is_run_file(n)).collect();
    let own_checkpoint = dir.join(checkpoint::FILE_NAME);
    let holds_checkpoint = run_files.iter().any(|n| *n == checkpoint::FILE_NAME);
    let shown = dir.display();
    match claim {
        Claim::New { overwrite: false } if holds_checkpoint => bail!(
            "{shown} holds a run ({}); continue it with --resume {}, start it over with \
             --overwrite, or give another --out-dir",
            own_checkpoint.display(),
            own_checkpoint.display()
        ),
        Claim::New { overwrite: false } if !run_files.is_empty() => bail!(
            "{shown} holds another run's files ({}); start over in it with --overwrite, or give \
             another --out-dir",
            describe(&run_files)
        ),
        Claim::New { overwrite: true } => {
            for name in &run_files {
                let path = dir.join(name);
                std::fs::remove_file(&path)
                    .with_context(|| format!("cannot remove {}", path.display()))?;
            }
        }
        Claim::Resume { checkpoint }
            if !run_files.is_empty() && !same_file(checkpoint, &own_checkpoint) =>
        {
            bail!(
                "{shown} holds another run's files ({}); resume in the checkpoint's own folder or \
                 give an --out-dir without a run",
                describe(&run_files)
            )
        }
        _ => {}
    }
    for name in names.iter().filter(|n| is_leftover(n)) {
        // `remove_file` removes a link, never what it points to.
        let _ = std::fs::remove_file(dir.join(name));
    }
    Ok(())
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// `checkpoint.safetensors, losses.csv, 3 sample grids`.
fn describe(names: &[&String]) -> String {
    let grids = names.iter().filter(|n| n.starts_with("samples_")).count();
    let mut parts: Vec<String> = names
        .iter()
        .filter(|n| !n.starts_with("samples_"))
        .map(|n| n.to_string())
        .collect();
    parts.sort();
    if grids > 0 {
        parts.push(format!(
            "{grids} sample grid{}",
            if grids == 1 { "" } else { "s" }
        ));
    }
    parts.join(", ")
}
