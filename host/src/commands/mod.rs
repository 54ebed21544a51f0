//! One module per verb. Each parses nothing itself (clap did) and calls into the library.

pub mod auth;
pub mod completions;
pub mod doctor;
pub mod env;
pub mod login;
pub mod plugin;
pub mod run;
pub mod scaffold;

use crate::output::OutputFormat;
use crate::plugins::store::InstalledPlugin;
use crate::settings::Settings;

/// What every command receives: merged settings and the global flags. It lives here, below
/// `cli`, so commands never reach back up into the parser.
#[derive(Debug)]
pub struct Ctx {
    pub settings: Settings,
    pub output: OutputFormat,
    pub verbose: u8,
    pub plugins: Vec<InstalledPlugin>,
}
