//! What an install recorded: where the plugin came from (`install.toml`) and what the user
//! granted it (`grants.toml`), and what a manifest asks for beyond that.

use super::*;

/// How a plugin came to be installed; written by lmi, read on every dispatch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InstallRecord {
    /// sha256 of the component, hex: the key of its compiled artifact.
    pub sha256: String,
    /// The directory it was installed from.
    pub source: PathBuf,
    /// Linked in place: the manifest and component are read from `source`.
    #[serde(default)]
    pub linked: bool,
    pub installed_at: u64,
}

/// What the user granted when the plugin was installed or linked, recorded by lmi. A run
/// gets at most this, whatever the manifest says later (a linked plugin's manifest is the
/// author's to edit).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Grants {
    /// The commands the plugin was installed with: it owns them.
    #[serde(default)]
    pub commands: Vec<String>,
    /// The commands that see the user's SSO identity (`requires_sso` at install).
    #[serde(default)]
    pub sso_commands: Vec<String>,
    #[serde(default)]
    pub permissions: Permissions,
}

impl Grants {
    /// Exactly what the user is shown and agrees to for `manifest`.
    pub fn of(manifest: &Manifest) -> Self {
        Self {
            commands: manifest.commands.iter().map(|c| c.name.clone()).collect(),
            sso_commands: manifest
                .commands
                .iter()
                .filter(|c| c.requires_sso)
                .map(|c| c.name.clone())
                .collect(),
            permissions: manifest.permissions.clone(),
        }
    }

    /// What running `command` of `manifest` would need beyond these grants, one phrase each.
    pub fn exceeded_by(&self, manifest: &Manifest, command: &str) -> Vec<String> {
        let mut more = permissions_beyond(&manifest.permissions, &self.permissions);
        if manifest.command(command).is_some_and(|c| c.requires_sso)
            && !self.sso_commands.iter().any(|c| c == command)
        {
            more.push(format!("your SSO identity in `{command}`"));
        }
        more
    }
}

/// Each permission `asked` holds that `granted` does not: a flag granted off, or a list
/// entry (an environment) not granted (`"*"` grants any). Generic over the fields, so a
/// permission added later is compared too.
pub(super) fn permissions_beyond(asked: &Permissions, granted: &Permissions) -> Vec<String> {
    use serde_json::Value;
    let (Ok(Value::Object(asked)), Ok(Value::Object(granted))) =
        (serde_json::to_value(asked), serde_json::to_value(granted))
    else {
        return vec!["permissions lmi cannot compare".into()];
    };
    let mut more = Vec::new();
    for (key, want) in &asked {
        let have = granted.get(key).unwrap_or(&Value::Null);
        match (want, have) {
            (Value::Bool(false) | Value::Null, _) => {}
            (Value::Array(items), Value::Array(held)) => {
                let any = held.iter().any(|h| h.as_str() == Some("*"));
                for item in items.iter().filter(|i| !any && !held.contains(i)) {
                    more.push(format!("{key}: {}", item.as_str().unwrap_or("?")));
                }
            }
            (Value::Array(items), _) if items.is_empty() => {}
            _ if want == have => {}
            _ => more.push(key.clone()),
        }
    }
    more
}
