//! Doctor's plugin checks: each installed plugin loads, is built for this lmi, has its
//! component unmodified, and a usable compiled artifact.

use super::DoctorCheck;
use crate::plugins::store::Store;
use crate::runtime::{self, ArtifactCache, component_sha256};
use crate::settings::Settings;

pub fn plugin_checks(settings: &Settings) -> Vec<DoctorCheck> {
    let paths = settings.paths();
    let store = Store::new(paths);
    let (plugins, problems) = store.list();
    let mut checks: Vec<DoctorCheck> = problems
        .into_iter()
        .map(|p| DoctorCheck::fail("plugins", p, "reinstall it with `lmi plugin install <DIR>`"))
        .collect();
    if plugins.is_empty() && checks.is_empty() {
        checks.push(DoctorCheck::skip("plugins", "no plugins installed"));
        return checks;
    }
    let engine = match runtime::engine() {
        Ok(e) => e,
        Err(e) => {
            checks.push(DoctorCheck::fail(
                "plugins",
                format!("cannot start wasmtime: {e:#}"),
                "report this as a bug",
            ));
            return checks;
        }
    };
    let cache = ArtifactCache::new(paths.compiled_dir(), &engine);
    for plugin in plugins {
        let name = format!("plugin {}", plugin.manifest.name);
        let label = plugin.label();
        let reinstall = match plugin.record.linked {
            true => format!("lmi plugin install --link {}", plugin.dir.display()),
            false => format!("lmi plugin install <DIR of {}>", plugin.manifest.name),
        };
        if let Err(why) = plugin.manifest.host_compatible() {
            checks.push(DoctorCheck::fail(
                name,
                why,
                "install a version of the plugin built for this lmi",
            ));
            continue;
        }
        let bytes = match plugin.read_component() {
            Ok(b) => b,
            Err(e) => {
                checks.push(DoctorCheck::fail(
                    name,
                    format!(
                        "{label}: cannot read its component {}: {e}",
                        plugin.component_path().display()
                    ),
                    reinstall,
                ));
                continue;
            }
        };
        let sha = component_sha256(&bytes);
        if !plugin.record.linked && sha != plugin.record.sha256 {
            checks.push(DoctorCheck::fail(
                name,
                format!("{label}: its component was modified after installation and will not run"),
                reinstall,
            ));
            continue;
        }
        let artifact = cache.path_for(&sha);
        checks.push(if !artifact.exists() {
            DoctorCheck::warn(
                name,
                format!("{label}: no compiled artifact for this lmi; the first run compiles it"),
                format!("nothing to do, or `{reinstall}` to compile now"),
            )
        } else {
            match cache.load(&engine, &sha) {
                Ok(_) => DoctorCheck::ok(name, format!("{label}: component and compiled artifact intact")),
                Err(_) => DoctorCheck::warn(
                    name,
                    format!(
                        "{label}: compiled artifact {} is damaged or unusable; the next run rebuilds it",
                        artifact.display()
                    ),
                    format!("nothing to do, or `{reinstall}`"),
                ),
            }
        });
    }
    checks
}
