//! Writing a set of files into a folder that a web server serves, safely:
//! each file is written to a fresh temporary file (a random name, created
//! exclusively) and renamed over the old one, so a reader never sees half a
//! file; a file whose bytes did not change is not touched; nothing is ever
//! written or read through a symbolic link planted in the folder, and an
//! old file is read only when it is a plain file of the new one's size.
//! Depends on nothing else in thau.

use std::fs;
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

/// What a write did.
#[derive(Debug, Default)]
pub struct ExportReport {
    /// Files written (relative paths), in the order given.
    pub written: Vec<PathBuf>,
    pub unchanged: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("refusing to write through the symbolic link {}", .0.display())]
    Symlink(PathBuf),
    #[error("{} is in the way: not a regular file", .0.display())]
    NotAFile(PathBuf),
    #[error("{}: only relative paths inside the folder", .0.display())]
    Outside(PathBuf),
    #[error("cannot write {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

/// Writes each `(relative path, bytes)` under `out` (created if missing).
pub fn write_files<'a>(
    out: &Path,
    files: impl IntoIterator<Item = (PathBuf, &'a [u8])>,
) -> Result<ExportReport, ExportError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| ExportError::Io { path, source }
    };
    fs::create_dir_all(out).map_err(io(out))?;
    let mut report = ExportReport::default();
    for (relative, bytes) in files {
        if relative.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(ExportError::Outside(relative));
        }
        let dir = real_dirs(out, relative.parent().unwrap_or(Path::new("")))?;
        let path = out.join(&relative);
        if unchanged(&path, bytes)? {
            report.unchanged += 1;
            continue;
        }
        let mut tmp = tempfile::Builder::new()
            .prefix(".thau-")
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(io(&dir))?;
        tmp.write_all(bytes).map_err(io(tmp.path()))?;
        // Readable by the web server, as a file written by `cp` would be.
        set_mode(tmp.as_file()).map_err(io(tmp.path()))?;
        // rename() replaces a link itself, never what it points to.
        tmp.persist(&path).map_err(|e| ExportError::Io {
            path: path.clone(),
            source: e.error,
        })?;
        report.written.push(relative);
    }
    Ok(report)
}

/// Removes `out/relative` if it is there (a link is removed itself, never
/// what it points to).
pub fn remove_file(out: &Path, relative: &Path) -> Result<(), ExportError> {
    let path = out.join(relative);
    match fs::symlink_metadata(&path) {
        Ok(meta) if meta.is_dir() => Err(ExportError::NotAFile(path)),
        Ok(_) => fs::remove_file(&path).map_err(|source| ExportError::Io { path, source }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(ExportError::Io { path, source }),
    }
}

/// `out/relative_dir`, each folder under `out` created if missing and
/// checked to be a real folder, not a link.
fn real_dirs(out: &Path, relative_dir: &Path) -> Result<PathBuf, ExportError> {
    let mut dir = out.to_path_buf();
    for part in relative_dir.components() {
        dir.push(part);
        match fs::symlink_metadata(&dir) {
            Ok(meta) if meta.file_type().is_symlink() => return Err(ExportError::Symlink(dir)),
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(ExportError::NotAFile(dir)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&dir).map_err(|source| ExportError::Io {
                    path: dir.clone(),
                    source,
                })?
            }
            Err(source) => return Err(ExportError::Io { path: dir, source }),
        }
    }
    Ok(dir)
}

/// Whether `path` already holds `bytes`. A link is never followed (it is
/// replaced); a plain file is read only when its size is that of `bytes`.
fn unchanged(path: &Path, bytes: &[u8]) -> Result<bool, ExportError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(source) => {
            return Err(ExportError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    if meta.file_type().is_symlink() {
        return Ok(false);
    }
    if !meta.is_file() {
        return Err(ExportError::NotAFile(path.to_owned()));
    }
    if meta.len() != bytes.len() as u64 {
        return Ok(false);
    }
    Ok(fs::read(path).is_ok_and(|old| old == bytes))
}

#[cfg(unix)]
fn set_mode(file: &fs::File) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
fn set_mode(_: &fs::File) -> io::Result<()> {
    Ok(())
}
