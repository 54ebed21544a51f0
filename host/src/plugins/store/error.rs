//! Why a store operation failed, with its exit code.

use super::*;

#[derive(Debug, thiserror::Error)]
pub enum PluginStoreError {
    #[error("plugin `{0}` is not installed (see `lmi plugin list`)")]
    NotInstalled(String),
    #[error(
        "`{0}` is not a plugin name: plugin names are lowercase letters, digits and `-`, starting with a letter (see `lmi plugin list`)"
    )]
    BadName(String),
    #[error(
        "command `{command}` of plugin {plugin} is already provided by the installed plugin {other}: remove one of them first"
    )]
    CommandClash {
        command: String,
        plugin: String,
        other: String,
    },
    #[error(
        "plugin {plugin} now asks for more than you granted when it was installed ({more}); lmi will not run it until you review and grant that by installing it again: `{fix}`"
    )]
    NotGranted {
        plugin: String,
        more: String,
        fix: String,
    },
    #[error(
        "another install changed what {plugin} was granted while this one ran, and it would now also {more}, which you were not asked for; nothing was installed: run the install again"
    )]
    GrantsChanged { plugin: String, more: String },
    #[error(
        "installed plugin `{name}` is damaged: {reason}; reinstall it with `lmi plugin install <DIR>` or remove it with `lmi plugin remove {name}`"
    )]
    Damaged { name: String, reason: String },
    #[error(
        "the new version of {plugin} does not load ({reason}); nothing was installed and the previous version, if any, is unchanged"
    )]
    Unloadable { plugin: String, reason: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The store's writer lock: busy for a minute, or unusable.
    #[error("the plugin store: {0}")]
    Lock(#[from] LockError),
}

impl ExitStatus for PluginStoreError {
    fn exit(&self) -> Exit {
        match self {
            PluginStoreError::Io { source, .. }
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                Exit::Usage
            }
            PluginStoreError::Io { .. }
            | PluginStoreError::Damaged { .. }
            | PluginStoreError::Lock(_) => Exit::Failure,
            _ => Exit::Usage,
        }
    }
}

pub(super) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> PluginStoreError {
    let context = context.into();
    move |source| PluginStoreError::Io { context, source }
}
