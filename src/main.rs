//! The `thau` command line: parses arguments, sets up logging, and calls
//! the command's function in [`thau::cli`].

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use thau::cli::{self, UNUSABLE};
use thau::config::{Config, ConfigError};

/// Aggregates RSS, Atom and JSON Feed sources and republishes one merged
/// feed per section.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// The configuration file.
    #[arg(long, global = true, default_value = "feeds.toml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate the configuration; print every problem with its line.
    Check,
    /// Poll every source (or one) once and store what is new.
    Poll {
        /// Poll only this source.
        #[arg(long)]
        source: Option<String>,
    },
    /// Serve the section feeds over HTTP; polls every source at start.
    Serve {
        /// What this instance does. With [store] backend = "postgres",
        /// several instances share the work: pollers split the sources,
        /// publishers serve identical feeds.
        #[arg(long, value_enum, default_value_t = RoleArg::All)]
        role: RoleArg,
    },
    /// Remove entries beyond the [retention] limits (never those a source
    /// still lists); `thau serve` does this hourly.
    Prune,
    /// Write the site to a folder: the section feeds, the "all sections"
    /// feeds, sections.opml, the reading pages and status.html.
    Export {
        /// The folder to write into (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
    /// Add a source: a feed URL, or a web page whose feed is found (its
    /// `<link rel="alternate">`, else common paths such as /feed).
    Add {
        url: String,
        /// Its name in feeds.toml (default: from the feed's title).
        #[arg(long)]
        name: Option<String>,
        /// Put it in this section (repeatable).
        #[arg(long)]
        section: Vec<String>,
        /// When the page has several feeds: take the Nth (from 1).
        #[arg(long)]
        pick: Option<usize>,
    },
    /// Add every feed of an OPML file (another reader's export) to
    /// feeds.toml, skipping the ones already there.
    Import {
        /// The OPML file (1.0 or 2.0; folders named like a section go to it).
        file: PathBuf,
        /// Put every imported source in this section too (repeatable).
        #[arg(long)]
        section: Vec<String>,
    },
    /// Remove a source from feeds.toml (its stored entries go with retention).
    Remove {
        /// The source's name.
        name: String,
    },
    /// Take a story down: it leaves every feed, page, archive page, digest
    /// and export within seconds and stays hidden (a [[hidden]] table in
    /// feeds.toml). Without STORY: list the hidden stories.
    Hide {
        /// The story: its page's address (…/stories/ID.html) or id, its id
        /// in the feeds (guid), or its link.
        story: Option<String>,
        /// Why (kept in feeds.toml, shown on the status page).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Show a hidden story again.
    Unhide {
        /// The story, as `thau hide` was given it (or as it lists it).
        story: String,
    },
    /// Make a story lead a section: first in its feeds and on its page
    /// (a [[pinned]] table); with --section front, the front page's lead.
    /// Without STORY: list the pinned and picked stories.
    Pin {
        /// The story, as `thau hide` takes it.
        story: Option<String>,
        /// The section's slug, or "front".
        #[arg(long)]
        section: Option<String>,
        /// Until then (2026-12-24 or 2026-12-24T18:00:00Z); for good otherwise.
        #[arg(long)]
        until: Option<String>,
    },
    /// Stop pinning a story (in --section, or everywhere).
    Unpin {
        story: String,
        #[arg(long)]
        section: Option<String>,
    },
    /// Put a story in a section by hand (a [[picked]] table): the only way
    /// into a section with picks = true.
    Pick {
        story: String,
        #[arg(long)]
        section: String,
    },
    /// Subscribers' keys to private sections (private = true).
    Key {
        #[command(subcommand)]
        action: KeyAction,
    },
    /// Take a picked story out of a section.
    Unpick {
        story: String,
        #[arg(long)]
        section: String,
    },
    /// Fetch a source and print what thau reads of it (for a page, what its
    /// selectors extract), without storing anything.
    TestSource {
        /// The source's name.
        name: String,
    },
    /// List the sources; with --opml, as an OPML subscription list.
    Sources {
        #[arg(long)]
        opml: bool,
    },
    /// Copy the store to the other backend, every record as it is (ids,
    /// dates, fetch state): from sled at [store] path to PostgreSQL, or
    /// back. The target must be empty; then set [store] backend.
    Migrate {
        /// The backend to copy to.
        #[arg(long, value_enum)]
        to: BackendArg,
        /// The PostgreSQL database (default: [store] url, else
        /// $THAU_DATABASE_URL).
        #[arg(long)]
        url: Option<String>,
        /// The sled folder (default: [store] path).
        #[arg(long)]
        path: Option<PathBuf>,
    },
}

#[derive(clap::Subcommand)]
enum KeyAction {
    /// Make a key for a subscriber, printed once (only its SHA-256 is kept
    /// in feeds.toml), opening the private sections given.
    Add {
        /// Who it is for (unique).
        name: String,
        /// A private section it opens (repeatable).
        #[arg(long, required = true)]
        section: Vec<String>,
    },
    /// Revoke a subscriber's key.
    Remove { name: String },
    /// The keys: names and the sections they open.
    List,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum RoleArg {
    All,
    Poller,
    Publisher,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum BackendArg {
    Postgres,
    Sled,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Listings end quietly when their reader does (`thau sources | head`):
    // the default SIGPIPE, which Rust sets to ignored, so that println!
    // panicked on the closed pipe. The daemon keeps it ignored.
    if matches!(
        cli.command,
        Command::Sources { .. }
            | Command::Check
            | Command::TestSource { .. }
            | Command::Hide { story: None, .. }
            | Command::Pin { story: None, .. }
    ) {
        // SAFETY: at start, before any thread; restores the default action.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    // Colours only on a terminal, and not when NO_COLOR is set (no-color.org):
    // journald and log files get plain text.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(log_filter(matches!(cli.command, Command::Poll { .. })))
        .with_writer(|| cli::run::LogWriter)
        .with_ansi(colour)
        .init();

    let config = match Config::load(&cli.config) {
        Ok(config) => config,
        Err(e @ ConfigError::Read { .. }) => {
            eprintln!("thau: {e}");
            eprintln!("(thau reads feeds.toml in the current folder; give another file with --config FILE)");
            return ExitCode::from(UNUSABLE);
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(UNUSABLE);
        }
    };
    let path = cli.config.as_path();
    match cli.command {
        Command::Check => cli::inspect::check(&config, path),
        Command::Poll { source } => cli::run::poll(&config, source.as_deref()),
        Command::Serve { role } => cli::run::serve(
            config,
            match role {
                RoleArg::All => thau::app::Role::All,
                RoleArg::Poller => thau::app::Role::Poller,
                RoleArg::Publisher => thau::app::Role::Publisher,
            },
        ),
        Command::Migrate { to, url, path: store } => {
            let to = match to {
                BackendArg::Postgres => cli::run::MigrateTo::Postgres,
                BackendArg::Sled => cli::run::MigrateTo::Sled,
            };
            cli::run::migrate(&config, to, url, store)
        }
        Command::Prune => cli::run::prune(&config),
        Command::Export { out } => cli::run::export(&config, path, &out),
        Command::Add {
            url,
            name,
            section,
            pick,
        } => cli::edits::add(&config, path, &url, name, &section, pick),
        Command::Import { file, section } => cli::edits::import(&config, path, &file, &section),
        Command::Remove { name } => cli::edits::remove(path, &name),
        Command::Hide { story, reason } => cli::edits::hide(&config, path, story.as_deref(), reason.as_deref()),
        Command::Unhide { story } => cli::edits::unhide(path, &story),
        Command::Pin { story, section, until } => match story {
            Some(story) => cli::edits::pin(&config, path, true, &story, section.as_deref(), until.as_deref()),
            None => cli::edits::list_pins(&config),
        },
        Command::Unpin { story, section } => cli::edits::unpin(path, true, &story, section.as_deref()),
        Command::Pick { story, section } => cli::edits::pin(&config, path, false, &story, Some(&section), None),
        Command::Unpick { story, section } => cli::edits::unpin(path, false, &story, Some(&section)),
        Command::Key { action } => match action {
            KeyAction::Add { name, section } => cli::edits::key_add(&config, path, &name, &section),
            KeyAction::Remove { name } => cli::edits::key_remove(path, &name),
            KeyAction::List => cli::edits::key_list(&config),
        },
        Command::TestSource { name } => cli::inspect::test_source(&config, &name),
        Command::Sources { opml } => cli::inspect::sources(&config, opml),
    }
}

/// `RUST_LOG` (default: warnings), with html5ever's parse-error chatter off
/// unless asked for by name: one entry of broken tables made it log
/// 200,000 warnings. For `thau poll` (`polling`), a failed poll is said
/// once, in its row of the table, not also as a warning, unless RUST_LOG
/// asks for `thau`'s logs. Otherwise, what the daemon does is said at
/// info ([`thau::app::ACTIVITY`]).
fn log_filter(polling: bool) -> tracing_subscriber::EnvFilter {
    let asked = std::env::var("RUST_LOG").unwrap_or_default();
    let mut filter = tracing_subscriber::EnvFilter::try_new(if asked.trim().is_empty() { "warn" } else { &asked })
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let mut directives = vec!["html5ever=error"];
    if polling {
        directives.push("thau::pipeline=error");
    }
    // What the daemon does (a round of polls, a reload, the stop), unless
    // RUST_LOG says otherwise.
    // (Its lines say each failed poll: not also as a warning.)
    let activity = format!("{}=info", thau::app::ACTIVITY);
    if asked.trim().is_empty() && !polling {
        directives.push(&activity);
        directives.push("thau::pipeline=error");
    }
    for directive in directives {
        let target = directive.split('=').next().unwrap_or(directive);
        let named = asked.contains(target) || (target.starts_with("thau") && asked.contains("thau"));
        if !named && let Ok(quiet) = directive.parse() {
            filter = filter.add_directive(quiet);
        }
    }
    filter
}
