//! Distribution through a real OCI registry on loopback (Debian's docker-registry): publish,
//! install by tag and by digest, credentials from the docker configuration, a layer changed
//! behind lmi's back, outdated / upgrade / --pin, and a registry that is gone.

use std::path::Path;

use crate::support::registry::{Registry, docker_config};
use crate::support::{Home, copy_plugin, plugin_dir};

/// The digest `publish` prints on stdout (`oci://…:TAG@sha256:…`).
fn published_digest(stdout: &str) -> String {
    stdout
        .trim()
        .rsplit_once('@')
        .map(|(_, d)| d.to_owned())
        .unwrap_or_else(|| panic!("no digest in {stdout:?}"))
}

/// A copy of the hello example at `version`.
fn hello_at(dir: &Path, version: &str) -> std::path::PathBuf {
    let dest = dir.join(format!("hello-{version}"));
    copy_plugin(&plugin_dir("plugins/hello"), &dest);
    let manifest = dest.join("lmi-plugin.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replacen(
            "version = \"0.1.0\"",
            &format!("version = \"{version}\""),
            1,
        ),
    )
    .unwrap();
    dest
}

fn publish(home: &Home, dir: &Path, target: &str) -> String {
    let run = home.run([
        "plugin".as_ref(),
        "publish".as_ref(),
        dir.as_os_str(),
        target.as_ref(),
    ]);
    run.success();
    published_digest(&run.stdout)
}

/// Publishes the hello example at `version` to `repo:version` and installs it from there.
fn publish_and_install(home: &Home, work: &Path, repo: &str, version: &str) {
    let target = format!("{repo}:{version}");
    publish(home, &hello_at(work, version), &target);
    home.run(["plugin", "install", &target, "--yes"]).success();
}

#[test]
fn publish_then_install_by_tag_and_by_digest_then_run() {
    let registry = Registry::start();
    let home = Home::new();
    let target = registry.oci("team/hello:0.1.0");
    let digest = publish(&home, &plugin_dir("plugins/hello"), &target);

    home.run(["plugin", "install", &target, "--yes"])
        .success()
        .stderr_has(&format!("from {target}@{digest}"));
    home.run(["hello"]).success().stdout_has("Hello, world!");
    home.run(["plugin", "info", "hello"])
        .success()
        .stdout_has(&format!("source: {target}@{digest}"));

    // By digest alone, into another home: the same plugin.
    let other = Home::new();
    let by_digest = registry.oci(&format!("team/hello@{digest}"));
    other
        .run(["plugin", "install", &by_digest, "--yes"])
        .success();
    other.run(["hello"]).success().stdout_has("Hello, world!");

    // A digest the registry does not have is a usage error naming it, and installs nothing.
    let missing = registry.oci(&format!("team/hello@sha256:{}", "0".repeat(64)));
    let fresh = Home::new();
    fresh
        .run(["plugin", "install", &missing, "--yes"])
        .code(2)
        .stderr_has("has no `sha256:0000");
    fresh
        .run(["plugin", "list"])
        .success()
        .stdout_lacks("hello");
}

#[test]
fn a_layer_changed_in_the_registry_is_refused_and_nothing_is_installed() {
    let registry = Registry::start();
    let home = Home::new();
    let target = registry.oci("team/hello:0.1.0");
    publish(&home, &plugin_dir("plugins/hello"), &target);
    // The component layer's digest, from the component itself.
    let component = std::fs::read(plugin_dir("plugins/hello").join("hello.wasm")).unwrap();
    let digest = format!("sha256:{}", sha256_hex(&component));
    let blob = registry.blob_file(&digest);
    assert!(blob.exists(), "{}", blob.display());
    // Same size, one byte different: only the digest can tell.
    let mut planted = component.clone();
    let last = planted.len() - 1;
    planted[last] ^= 0xff;
    std::fs::write(&blob, &planted).unwrap();

    home.run(["plugin", "install", &target, "--yes"])
        .code(1)
        .stderr_has(&format!("layer {digest}"))
        .stderr_has("is not what its manifest says");
    home.run(["plugin", "list"]).success().stdout_lacks("hello");
    home.run(["hello"]).code(2);
}

#[test]
fn credentials_come_from_the_docker_configuration_and_never_show() {
    let password = "reg-pw-5be1c0d7";
    let registry = Registry::start_with_auth("ci", password);
    let mut home = Home::new();
    let target = registry.oci("team/hello:0.1.0");
    let hello = plugin_dir("plugins/hello");

    // No credentials: exit 4, naming the login that fixes it.
    home.run([
        "plugin".as_ref(),
        "publish".as_ref(),
        hello.as_os_str(),
        target.as_ref(),
    ])
    .code(4)
    .stderr_has(&format!("docker login {}", registry.host()));

    // A wrong password: refused, exit 4.
    let wrong = docker_config(
        &home.path().join("wrong"),
        &registry.host(),
        "ci",
        "nope-nope",
    );
    home.env("DOCKER_CONFIG", wrong.to_str().unwrap());
    home.run(["plugin", "install", &target, "--yes"])
        .code(4)
        .stderr_has("refused user `ci`");

    let docker = docker_config(
        &home.path().join("docker"),
        &registry.host(),
        "ci",
        password,
    );
    home.env("DOCKER_CONFIG", docker.to_str().unwrap());
    let run = home.run([
        "-vv".as_ref(),
        "plugin".as_ref(),
        "publish".as_ref(),
        hello.as_os_str(),
        target.as_ref(),
    ]);
    run.success().nowhere(password);
    home.run(["-vv", "plugin", "install", &target, "--yes"])
        .success()
        .nowhere(password);
    home.run(["hello"]).success();
    home.log_lacks(password);
}

#[test]
fn outdated_lists_a_newer_tag_upgrade_moves_to_it_and_pin_holds() {
    let registry = Registry::start();
    let home = Home::new();
    let work = tempfile::tempdir().unwrap();
    let repo = registry.oci("team/hello");
    publish_and_install(&home, work.path(), &repo, "0.1.0");
    home.run(["plugin", "outdated"])
        .success()
        .stderr_has("up to date");

    publish(
        &home,
        &hello_at(work.path(), "0.2.0"),
        &format!("{repo}:0.2.0"),
    );
    // A tag that is not a version, and a version this lmi cannot run, are not offered.
    publish(
        &home,
        &hello_at(work.path(), "0.3.0"),
        &format!("{repo}:latest"),
    );
    // lmi would not publish a plugin it cannot run: re-annotate one behind its back.
    publish(
        &home,
        &hello_at(work.path(), "9.0.0"),
        &format!("{repo}:9.0.0"),
    );
    let manifest = registry.manifest("team/hello", "9.0.0");
    assert!(
        manifest.contains(r#""dev.lmi.plugin.lmi":"^0.1""#),
        "{manifest}"
    );
    registry.put_manifest(
        "team/hello",
        "9.0.0",
        &manifest.replace(
            r#""dev.lmi.plugin.lmi":"^0.1""#,
            r#""dev.lmi.plugin.lmi":"^9""#,
        ),
    );

    home.run(["plugin", "outdated"])
        .success()
        .stdout_has("hello")
        .stdout_has("0.1.0")
        .stdout_has(&format!("{repo}:0.2.0"))
        .stdout_lacks("9.0.0");

    home.run(["plugin", "upgrade", "--all", "--dry-run"])
        .success()
        .stdout_has("would upgrade hello 0.1.0 → 0.2.0");
    home.run(["plugin", "info", "hello"])
        .success()
        .stdout_has("hello 0.1.0");

    home.run(["plugin", "upgrade", "hello", "--yes"]).success();
    home.run(["plugin", "info", "hello"])
        .success()
        .stdout_has("hello 0.2.0")
        .stdout_has(&format!("{repo}:0.2.0@"));
    home.run(["hello"]).success();

    // Pinned to 0.1.0: outdated still tells, upgrade leaves it.
    home.run([
        "plugin",
        "install",
        &format!("{repo}:0.1.0"),
        "--pin",
        "--yes",
    ])
    .success();
    home.run(["plugin", "outdated"])
        .success()
        .stdout_has("pinned");
    home.run(["plugin", "upgrade", "--all", "--yes"])
        .success()
        .stderr_has("is pinned");
    home.run(["plugin", "info", "hello"])
        .success()
        .stdout_has("hello 0.1.0")
        .stdout_has("(pinned)");
}

#[test]
fn a_tag_that_moved_is_reported_on_upgrade() {
    let registry = Registry::start();
    let home = Home::new();
    let work = tempfile::tempdir().unwrap();
    let target = registry.oci("team/hello:stable");
    let first = publish(&home, &hello_at(work.path(), "0.1.0"), &target);
    home.run(["plugin", "install", &target, "--yes"]).success();
    // The same tag, re-pointed at another build.
    let moved = publish(&home, &hello_at(work.path(), "0.1.1"), &target);
    assert_ne!(first, moved);
    home.run(["plugin", "outdated"])
        .success()
        .stdout_has(&format!("moved to {moved}"));
    home.run(["plugin", "upgrade", "hello", "--yes"])
        .success()
        .stderr_has(&format!("tag stable moved from {first} to {moved}"));
    home.run(["plugin", "info", "hello"])
        .success()
        .stdout_has("hello 0.1.1");
}

#[test]
fn with_the_registry_gone_installed_plugins_run_and_outdated_names_it() {
    let mut registry = Registry::start();
    let home = Home::new();
    let target = registry.oci("team/hello:0.1.0");
    publish(&home, &plugin_dir("plugins/hello"), &target);
    home.run(["plugin", "install", &target, "--yes"]).success();
    registry.stop();

    home.run(["hello"]).success().stdout_has("Hello, world!");
    home.run(["plugin", "outdated"])
        .code(1)
        .stderr_has(&format!("registry {} is unreachable", registry.host()));
    home.run(["plugin", "upgrade", "--all", "--yes"]).code(1);
    home.run(["hello"]).success();
    home.run(["plugin", "info", "hello"])
        .success()
        .stdout_has("hello 0.1.0");
}

#[test]
fn plain_http_is_for_loopback_only() {
    let home = Home::new();
    // Not loopback: lmi speaks HTTPS to it (the unit tests check the URL); the name does not
    // resolve (`.invalid`), which is a clear failure, not a hang.
    home.run([
        "plugin",
        "install",
        "oci://registry.invalid/team/hello:1.0.0",
        "--yes",
    ])
    .code(1)
    .stderr_has("registry registry.invalid is unreachable");
    home.run([
        "plugin",
        "install",
        "oci://user:pw@127.0.0.1:1/a:1",
        "--yes",
    ])
    .code(2)
    .stderr_has("docker login");
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A `docker-credential-<name>` program in its own PATH directory.
fn credential_helper(dir: &Path, name: &str, script: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let path = bin.join(format!("docker-credential-{name}"));
    std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[test]
fn a_docker_credential_helper_is_asked_within_a_deadline() {
    let password = "helper-pw-93ac41e2";
    let registry = Registry::start_with_auth("ci", password);
    let mut home = Home::new();
    let target = registry.oci("team/hello:0.1.0");
    let docker = home.path().join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::write(docker.join("config.json"), r#"{"credsStore":"lmitest"}"#).unwrap();
    home.env("DOCKER_CONFIG", docker.to_str().unwrap());
    // The helper checks it is asked for this registry, as docker asks.
    let path = credential_helper(
        home.path(),
        "lmitest",
        &format!(
            r#"read host; [ "$1" = get ] && [ "$host" = "{}" ] || exit 1
printf '{{"ServerURL":"%s","Username":"ci","Secret":"{password}"}}' "$host""#,
            registry.host()
        ),
    );
    home.env("PATH", &path);
    let hello = plugin_dir("plugins/hello");
    home.run([
        "-vv".as_ref(),
        "plugin".as_ref(),
        "publish".as_ref(),
        hello.as_os_str(),
        target.as_ref(),
    ])
    .success()
    .nowhere(password);
    home.run(["-vv", "plugin", "install", &target, "--yes"])
        .success()
        .nowhere(password);
    home.log_lacks(password);

    // A helper that never answers is stopped at the deadline, named.
    let path = credential_helper(home.path(), "lmitest", "exec sleep 600");
    home.env("PATH", &path).env("LMI_HTTP_TIMEOUT_SECS", "2");
    let started = std::time::Instant::now();
    home.run(["plugin", "install", &target, "--yes"])
        .code(2)
        .stderr_has("docker-credential-lmitest")
        .stderr_has("did not answer within 2 s");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

/// Which layer a hostile registry is asked for.
#[derive(Clone, Copy, PartialEq)]
enum Layer {
    Component,
    Manifest,
}

/// The hello plugin's `lmi-plugin.toml` layer, as served.
fn hello_manifest_layer() -> crate::support::fault::Reply {
    let bytes = std::fs::read(plugin_dir("plugins/hello").join("lmi-plugin.toml")).unwrap();
    crate::support::fault::Reply::raw(200, "application/octet-stream", bytes)
}

/// A hostile registry (a fault server speaking just enough of the distribution API) serving
/// the hello plugin, with `blob` deciding how each layer is answered.
fn hostile_registry(
    blob: impl Fn(&crate::support::fault::Req, Layer) -> crate::support::fault::Reply
    + Send
    + Sync
    + 'static,
) -> crate::support::fault::FaultServer {
    use crate::support::fault::{FaultServer, Reply};
    let dir = plugin_dir("plugins/hello");
    let component = std::fs::read(dir.join("hello.wasm")).unwrap();
    let manifest = std::fs::read(dir.join("lmi-plugin.toml")).unwrap();
    let config = b"{}".to_vec();
    let digest = |b: &[u8]| format!("sha256:{}", sha256_hex(b));
    let descriptor = |media: &str, b: &[u8]| serde_json::json!({"mediaType": media, "digest": digest(b), "size": b.len()});
    let image = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptor("application/vnd.wasm.config.v0+json", &config),
        "layers": [
            descriptor("application/wasm", &component),
            descriptor("application/vnd.lmi.plugin.manifest.v1+toml", &manifest),
        ],
    })
    .to_string();
    let (component_digest, manifest_digest) = (digest(&component), digest(&manifest));
    FaultServer::start(move |req, _| {
        let path = req.path();
        if path == "/v2/" {
            return match req.header("authorization") {
                Some(_) => Reply::json(200, serde_json::json!({})),
                None => {
                    let mut r = Reply::status(401);
                    r.headers
                        .push(("WWW-Authenticate".into(), "Basic realm=\"hostile\"".into()));
                    r
                }
            };
        }
        if path.ends_with("/manifests/1.0.0") {
            return Reply::raw(
                200,
                "application/vnd.oci.image.manifest.v1+json",
                image.clone(),
            );
        }
        if path.ends_with(&format!("/blobs/{component_digest}")) {
            return blob(req, Layer::Component);
        }
        if path.ends_with(&format!("/blobs/{manifest_digest}")) {
            return blob(req, Layer::Manifest);
        }
        Reply::status(404)
    })
}

fn redirect(to: &str) -> crate::support::fault::Reply {
    let mut r = crate::support::fault::Reply::status(307);
    r.headers.push(("Location".into(), to.into()));
    r
}

#[test]
fn a_redirected_layer_never_carries_the_registrys_credentials_or_goes_to_plain_http() {
    use crate::support::fault::{FaultServer, Reply};
    let component = std::fs::read(plugin_dir("plugins/hello").join("hello.wasm")).unwrap();
    let storage = FaultServer::start(move |req, _| match req.path() {
        "/manifest" => hello_manifest_layer(),
        _ => Reply::raw(200, "application/octet-stream", component.clone()),
    });
    let storage_url = storage.url("/blob");
    let manifest_url = storage.url("/manifest");
    let registry = hostile_registry(move |_, layer| match layer {
        Layer::Component => redirect(&storage_url),
        // A redirect whose page is longer than the small layer it points at (Go's
        // `http.Redirect` writes one).
        Layer::Manifest => {
            let mut r = redirect(&manifest_url);
            r.body = format!(
                "<a href=\"{manifest_url}\">Temporary Redirect</a>.\n{}",
                " ".repeat(4096)
            )
            .into_bytes();
            r
        }
    });
    let password = "hostile-pw-0c5e77";
    let host = registry.base().trim_start_matches("http://").to_owned();
    let mut home = Home::new();
    let docker = docker_config(&home.path().join("docker"), &host, "ci", password);
    home.env("DOCKER_CONFIG", docker.to_str().unwrap());
    let target = format!("oci://{host}/team/hello:1.0.0");

    home.run(["plugin", "install", &target, "--yes"]).success();
    home.run(["hello"]).success();
    // The registry got the credentials; the storage it redirected to (another origin) did not.
    assert!(
        registry
            .requests()
            .iter()
            .any(|r| r.header("authorization").is_some())
    );
    let at_storage = storage.requests();
    assert_eq!(at_storage.len(), 2, "{at_storage:?}");
    assert!(
        at_storage
            .iter()
            .all(|r| r.header("authorization").is_none()),
        "{at_storage:?}"
    );

    // A redirect to plain HTTP off loopback is refused, and nothing new is installed.
    let plain = hostile_registry(|_, layer| match layer {
        Layer::Component => redirect("http://storage.invalid/blob"),
        Layer::Manifest => hello_manifest_layer(),
    });
    let host = plain.base().trim_start_matches("http://").to_owned();
    let mut fresh = Home::new();
    let docker = docker_config(&fresh.path().join("docker"), &host, "ci", password);
    fresh.env("DOCKER_CONFIG", docker.to_str().unwrap());
    fresh
        .run([
            "plugin",
            "install",
            &format!("oci://{host}/team/hello:1.0.0"),
            "--yes",
        ])
        .code(1)
        .stderr_has("lmi fetches over HTTPS only");
    fresh
        .run(["plugin", "list"])
        .success()
        .stdout_lacks("hello");
}

#[test]
fn a_registry_answering_more_than_it_declared_is_cut_off() {
    use crate::support::fault::Reply;
    // A layer longer than its descriptor says: read to the declared size, then refused.
    let registry = hostile_registry(|_, layer| match layer {
        Layer::Component => Reply::raw(200, "application/octet-stream", vec![0u8; 8 << 20]),
        Layer::Manifest => hello_manifest_layer(),
    });
    let host = registry.base().trim_start_matches("http://").to_owned();
    let mut home = Home::new();
    let docker = docker_config(&home.path().join("docker"), &host, "ci", "pw-x");
    home.env("DOCKER_CONFIG", docker.to_str().unwrap());
    home.run([
        "plugin",
        "install",
        &format!("oci://{host}/team/hello:1.0.0"),
        "--yes",
    ])
    .code(1)
    .stderr_has("answered more than");
    home.run(["plugin", "list"]).success().stdout_lacks("hello");
}

#[test]
fn a_token_realm_over_plain_http_gets_no_credentials() {
    use crate::support::fault::{FaultServer, Reply};
    let registry = FaultServer::start(|req, _| {
        if req.path() == "/v2/" {
            let mut r = Reply::status(401);
            r.headers.push((
                "WWW-Authenticate".into(),
                "Bearer realm=\"http://tokens.invalid/token\",service=\"x\"".into(),
            ));
            return r;
        }
        Reply::status(404)
    });
    let host = registry.base().trim_start_matches("http://").to_owned();
    let mut home = Home::new();
    let docker = docker_config(&home.path().join("docker"), &host, "ci", "pw-realm-1");
    home.env("DOCKER_CONFIG", docker.to_str().unwrap());
    home.run([
        "plugin",
        "install",
        &format!("oci://{host}/team/hello:1.0.0"),
        "--yes",
    ])
    .code(1)
    .stderr_has("names a token realm over plain HTTP")
    .nowhere("pw-realm-1");
}

/// Signatures travel with a published plugin and are checked on a registry install as on a
/// directory install: before anything is compiled, under the same policy.
#[test]
fn registry_installs_are_held_to_the_signature_policy() {
    use crate::signatures::{home_trusting, minisign_key};
    let registry = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let (trusted, trusted_id, trusted_key) = minisign_key(work.path(), "trusted", None);
    let (_, _, other_key) = minisign_key(work.path(), "other", None);
    let author = Home::new();
    let unsigned = registry.oci("team/hello:0.1.0");
    publish(&author, &hello_at(work.path(), "0.1.0"), &unsigned);
    let untrusted = registry.oci("team/hello:0.1.1");
    let dir = hello_at(work.path(), "0.1.1");
    author
        .run([
            "plugin".as_ref(),
            "publish".as_ref(),
            dir.as_os_str(),
            untrusted.as_ref(),
            "--sign".as_ref(),
            other_key.as_os_str(),
        ])
        .success()
        .stderr_has("(signed)")
        .stderr_has("Installers who trust this key add its public key to LMI_PLUGIN_TRUSTED_KEYS");
    let signed = registry.oci("team/hello:0.2.0");
    let dir = hello_at(work.path(), "0.2.0");
    // Signing and publishing for a script: one JSON document on stdout, nothing else.
    let run = author.run([
        "--output".as_ref(),
        "json".as_ref(),
        "plugin".as_ref(),
        "publish".as_ref(),
        dir.as_os_str(),
        signed.as_ref(),
        "--sign".as_ref(),
        trusted_key.as_os_str(),
    ]);
    run.success();
    let answer: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("publish --output json: {e}: {:?}", run.stdout));
    assert_eq!(answer["name"], "hello");
    assert_eq!(answer["signed"], true);
    let digest = answer["digest"].as_str().unwrap();
    assert_eq!(answer["reference"], format!("{signed}@{digest}"));
    assert_eq!(answer["signed_now"]["public_key"], trusted.as_str());
    assert_eq!(answer["signed_now"]["key"], trusted_id.as_str());

    let mut user = home_trusting(&[&trusted], true);
    // Any compile would fail loudly within this bound: a refusal must come before it.
    user.env("LMI_COMPILE_MEMORY_MB", "1");
    user.run(["plugin", "install", &unsigned, "--yes"])
        .code(2)
        .stderr_has("it is not signed")
        .stderr_lacks("LMI_COMPILE_MEMORY_MB")
        // The refusal names the reference, not the temporary directory it was checked in.
        .stderr_has(&unsigned)
        .stderr_lacks("lmi-pull-");
    user.run(["plugin", "install", &untrusted, "--yes"])
        .code(2)
        .stderr_has("which is not in LMI_PLUGIN_TRUSTED_KEYS")
        .stderr_lacks("LMI_COMPILE_MEMORY_MB");
    user.run(["plugin", "list"]).success().stdout_lacks("hello");
    let compiled = user.cache().join("compiled");
    assert!(
        !compiled.exists() || std::fs::read_dir(&compiled).unwrap().count() == 0,
        "something was compiled for a refused plugin"
    );

    let user = home_trusting(&[&trusted], true);
    user.run(["plugin", "install", &signed, "--yes"]).success();
    user.run(["plugin", "verify", "hello"])
        .success()
        .stdout_has(&trusted_id);
    user.run(["plugin", "info", "hello"])
        .success()
        .stdout_has(&trusted_id);
    user.run(["hello"]).success();
}

/// An upgrade installs only the plugin it upgrades: a repository whose newer tag holds another
/// plugin (annotated to look like this one) is refused, and nothing changes.
#[test]
fn an_upgrade_never_lets_a_repository_replace_another_plugin() {
    let registry = Registry::start();
    let home = Home::new();
    let work = tempfile::tempdir().unwrap();
    let repo = registry.oci("team/hello");
    publish_and_install(&home, work.path(), &repo, "0.1.0");
    // Another plugin under a newer tag, its annotations lying that it is hello 0.2.0.
    publish(
        &home,
        &plugin_dir("plugins/status-page"),
        &format!("{repo}:0.2.0"),
    );
    let manifest = registry.manifest("team/hello", "0.2.0");
    let lying = manifest
        .replace(
            r#""dev.lmi.plugin.name":"status-page""#,
            r#""dev.lmi.plugin.name":"hello""#,
        )
        .replace(
            r#""org.opencontainers.image.version":"0.1.0""#,
            r#""org.opencontainers.image.version":"0.2.0""#,
        );
    assert_ne!(manifest, lying, "{manifest}");
    registry.put_manifest("team/hello", "0.2.0", &lying);

    home.run(["plugin", "upgrade", "hello", "--yes"])
        .code(2)
        .stderr_has("it holds plugin `status-page`, not `hello`");
    home.run(["plugin", "info", "hello"])
        .success()
        .stdout_has("hello 0.1.0");
    home.run(["plugin", "list"])
        .success()
        .stdout_lacks("status-page");
}
