//! The commands of the `thau` binary, as library functions: `main.rs`
//! parses the command line and calls one of these, so each command's work
//! can be read and tested apart from the process. Each prints what it did
//! (standard output) or why it could not (standard error, `thau: …`) and
//! returns the exit status.
//!
//! - [`edits`]: `add`, `import`, `remove`: feeds.toml edited under its lock.
//! - [`inspect`]: `check`, `sources`, `test-source`: read, never write.
//! - [`run`]: `serve`, `poll`, `prune`, `export`, `migrate`: the store's users.

use std::path::Path;
use std::process::ExitCode;

use crate::config::Config;

pub mod edits;
pub mod inspect;
pub mod run;

/// Exit statuses: 0 all good, 1 some source failed, 2 configuration or store error.
pub const SOME_FAILED: u8 = 1;
pub const UNUSABLE: u8 = 2;

/// Reads feeds.toml, edits it with `edit` (given its text and the config
/// it holds now), writes it atomically, all under its edit lock; the exit
/// status on failure (the file untouched).
pub fn edited(
    path: &Path,
    edit: impl FnOnce(&str, &Config) -> Result<String, crate::edit::EditError>,
) -> Result<(), ExitCode> {
    crate::edit::edit_file(path, edit).map_err(|e| {
        eprintln!("thau: {e}");
        ExitCode::from(UNUSABLE)
    })
}

/// An async runtime on all cores, or on this thread only (a command that
/// fetches a page or two); None, having said why, when it cannot start.
pub fn runtime(multi_thread: bool) -> Option<tokio::runtime::Runtime> {
    let built = match multi_thread {
        true => tokio::runtime::Runtime::new(),
        false => tokio::runtime::Builder::new_current_thread().enable_all().build(),
    };
    built
        .map_err(|e| eprintln!("thau: cannot start the async runtime: {e}"))
        .ok()
}
