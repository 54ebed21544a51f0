//! What lmi tells a plugin about how it was invoked (WIT `invocation`): the options given to
//! lmi itself, before the command word, and which plugin is running. Every word after the
//! command is the plugin's own, in [`Plugin::run`](crate::Plugin::run)'s `args`; lmi's
//! `-v`, `--output` and `--color` reach it through [`Context::verbosity`],
//! [`Context::output_format`] and [`Context::terminal`].
//!
//! [`Context::verbosity`]: crate::Context::verbosity
//! [`Context::output_format`]: crate::Context::output_format
//! [`Context::terminal`]: crate::Context::terminal

use crate::bindings::lmi::plugin::invocation as wit;

/// The output format the user asked lmi for with `--output` (`text` without it).
///
/// lmi's own commands print JSON for [`OutputFormat::Json`]; a plugin whose output has a
/// natural JSON shape should too, so scripts can treat every command alike.
///
/// ```
/// use lmi_plugin_sdk::{Context, MockContext, OutputFormat};
/// let ctx = MockContext::new().with_output_format(OutputFormat::Json);
/// assert_eq!(ctx.output_format(), OutputFormat::Json);
/// assert_eq!(MockContext::new().output_format(), OutputFormat::Text);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OutputFormat {
    /// Text for people (`lmi --output text`, the default).
    #[default]
    Text,
    /// JSON for scripts (`lmi --output json`).
    Json,
}

/// The running plugin's name and version, from the manifest lmi installed: the version
/// `lmi --version` and `lmi plugin list` show, so the plugin's own `--version` can say the
/// same (the `clap` feature's `lmi_plugin_sdk::clap::parse` uses it) without a second copy
/// in `Cargo.toml`.
///
/// ```
/// use lmi_plugin_sdk::{Context, MockContext};
/// let ctx = MockContext::new().with_plugin("my-tool", "1.4.0");
/// assert_eq!(ctx.plugin().version, "1.4.0");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PluginIdentity {
    /// The manifest's `name`.
    pub name: String,
    /// The manifest's `version` (semver).
    pub version: String,
}

impl PluginIdentity {
    /// An identity (for tests; a running plugin gets its own from [`Context::plugin`]).
    ///
    /// [`Context::plugin`]: crate::Context::plugin
    ///
    /// ```
    /// let me = lmi_plugin_sdk::PluginIdentity::new("my-tool", "0.1.0");
    /// assert_eq!(me.name, "my-tool");
    /// ```
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
        }
    }
}

impl From<wit::OutputFormat> for OutputFormat {
    fn from(format: wit::OutputFormat) -> Self {
        match format {
            wit::OutputFormat::Text => OutputFormat::Text,
            wit::OutputFormat::Json => OutputFormat::Json,
        }
    }
}

impl From<wit::PluginIdentity> for PluginIdentity {
    fn from(identity: wit::PluginIdentity) -> Self {
        Self {
            name: identity.name,
            version: identity.version,
        }
    }
}

/// The calls [`HostContext`](crate::HostContext) makes.
pub(crate) fn verbosity() -> u8 {
    wit::verbosity()
}

pub(crate) fn output_format() -> OutputFormat {
    wit::output().into()
}

pub(crate) fn plugin() -> PluginIdentity {
    wit::plugin().into()
}
