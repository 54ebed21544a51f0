//! Outbound `wasi:http` (`allowed_hosts`, contract 0.2): the hostile fixture, installed from a
//! copy whose manifest grants loopback origins, against real loopback servers. Every
//! refusal is checked at the server too: a refused request must never arrive.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;

use crate::support::fault::{FaultServer, Reply};
use crate::support::{Home, copy_plugin, plugin_dir};

/// The hostile fixture, copied into `dir` with `allowed_hosts = hosts` (and any more
/// `[permissions]` lines).
fn hostile_with_hosts(dir: &Path, hosts: &[String], more: &str) {
    plugin_with_hosts("tests/plugins/hostile", dir, hosts, more)
}

/// The plugin at `rel` (the hostile plugin or a build of it) in `dir`, asking for `hosts`.
fn plugin_with_hosts(rel: &str, dir: &Path, hosts: &[String], more: &str) {
    copy_plugin(&plugin_dir(rel), dir);
    let manifest = dir.join("lmi-plugin.toml");
    let mut text = std::fs::read_to_string(&manifest).unwrap();
    let list: Vec<String> = hosts.iter().map(|h| format!("{h:?}")).collect();
    text.push_str(&format!(
        "\n[permissions]\nallowed_hosts = [{}]\n{more}\n",
        list.join(", ")
    ));
    std::fs::write(&manifest, text).unwrap();
}

/// A home with the hostile fixture installed, granted `hosts`.
fn granted(hosts: &[String]) -> (Home, tempfile::TempDir) {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    hostile_with_hosts(dir.path(), hosts, "");
    home.install(dir.path());
    (home, dir)
}

fn ok(srv: &FaultServer) -> String {
    srv.base()
}

#[test]
fn a_granted_origin_is_reached_without_lmis_credentials() {
    let srv = FaultServer::start(|_, _| Reply::raw(200, "text/plain", "hello from the origin"));
    let token = FaultServer::token_endpoint();
    let mut home = Home::new();
    home.env_file("dev", &token.client_credentials_env("client-secret-404"));
    home.env("LMI_ACCESS_TOKEN", "override-token-8812");
    let dir = tempfile::tempdir().unwrap();
    hostile_with_hosts(
        dir.path(),
        &[ok(&srv)],
        "service_requests = true\nservice_token = true\nenvironments = [\"dev\"]",
    );
    // The prompt says what is granted, in the words of the permission.
    home.install(dir.path()).stderr_has(&format!(
        "reach {} without your credentials (`allowed_hosts`)",
        srv.base()
    ));
    let run = home.run([
        "-e",
        "dev",
        "http",
        "GET",
        &srv.url("/status?verbose=1"),
        "x-plugin=yes",
    ]);
    run.success()
        .stdout_has("http: status 200")
        .stdout_has("http: 21 bytes");
    let requests = srv.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    let req = &requests[0];
    assert_eq!(req.target, "/status?verbose=1");
    assert_eq!(req.header("x-plugin"), Some("yes"));
    assert_eq!(
        req.header("host"),
        Some(srv.base().trim_start_matches("http://"))
    );
    for credential in ["authorization", "cookie", "proxy-authorization"] {
        assert_eq!(req.header(credential), None, "{credential}: {req:#?}");
    }
    for (name, value) in &req.headers {
        for secret in ["override-token-8812", "client-secret-404", "tok-"] {
            assert!(!value.contains(secret), "{name}: {value}");
        }
    }
    // The log names the exchange but not its query.
    let log = std::fs::read_to_string(home.log_file()).unwrap();
    assert!(log.contains("/status?… -> 200"), "{log}");
    assert!(!log.contains("verbose=1"), "{log}");
}

/// A request to an allowed origin names the plugin (`User-Agent: hostile/0.1.0 lmi/…`)
/// unless the plugin named itself: no credential of lmi's, but an honest name.
#[test]
fn an_outbound_request_names_the_plugin_unless_it_sets_its_own_user_agent() {
    let srv = FaultServer::start(|_, _| Reply::status(200));
    let (home, _dir) = granted(&[ok(&srv)]);
    home.run(["http", "GET", &srv.url("/a")])
        .success()
        .stdout_has("http: status 200");
    home.run(["http", "GET", &srv.url("/b"), "User-Agent=status-bot/2.0"])
        .success()
        .stdout_has("http: status 200");
    let requests = srv.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert_eq!(
        requests[0].header("user-agent"),
        Some(concat!("hostile/0.1.0 lmi/", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(requests[1].header("user-agent"), Some("status-bot/2.0"));
    let agents = requests[1]
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("user-agent"))
        .count();
    assert_eq!(agents, 1, "{:#?}", requests[1]);
}

#[test]
fn without_allowed_hosts_a_request_is_refused_naming_the_permission() {
    let srv = FaultServer::start(|_, _| Reply::status(200));
    let home = Home::new();
    home.install(&plugin_dir("tests/plugins/hostile"));
    home.run(["http", "GET", &srv.url("/")])
        .success()
        .stdout_has("http: denied: lmi refused")
        .stdout_has("`allowed_hosts`")
        .stderr_has(&format!(
            "plugin hostile 0.1.0 may not reach {}: it is not among the origins granted in `allowed_hosts` (it was granted none)",
            srv.base()
        ));
    assert_eq!(srv.requests().len(), 0);
}

#[test]
fn another_origin_port_or_scheme_is_refused_before_connecting() {
    let allowed = FaultServer::start(|_, _| Reply::status(200));
    let other = FaultServer::start(|_, _| Reply::status(200));
    let (home, _dir) = granted(&[ok(&allowed)]);
    let other_port = other.base().rsplit(':').next().unwrap().to_owned();
    let allowed_port = allowed.base().rsplit(':').next().unwrap().to_owned();
    for url in [
        // Another origin altogether.
        other.url("/"),
        // The allowed host on a port that was not granted.
        format!("http://127.0.0.1:{other_port}/"),
        // The allowed host and port over another scheme.
        format!("https://127.0.0.1:{allowed_port}/"),
        // Another loopback address is another origin.
        format!("http://127.0.0.2:{allowed_port}/"),
        // The same address spelled as a name is another origin too.
        format!("http://localhost:{allowed_port}/"),
    ] {
        home.run(["http", "GET", &url])
            .success()
            .stdout_has("http: denied")
            .stderr_has("is not among the origins granted in `allowed_hosts`");
    }
    assert_eq!(other.requests().len(), 0);
    assert_eq!(allowed.requests().len(), 0);
    // The granted one, spelled another way (`127.1` is 127.0.0.1), goes through.
    home.run(["http", "GET", &format!("http://127.1:{allowed_port}/x")])
        .success()
        .stdout_has("http: status 200");
    assert_eq!(allowed.requests().len(), 1);
    assert_eq!(
        allowed.requests()[0].header("host"),
        Some(format!("127.0.0.1:{allowed_port}").as_str()),
        "the Host sent is the origin checked"
    );
}

#[test]
fn a_redirect_to_another_origin_is_handed_to_the_plugin_not_followed() {
    let elsewhere = FaultServer::start(|_, _| Reply::raw(200, "text/plain", "elsewhere"));
    let target = elsewhere.url("/stolen");
    let allowed = FaultServer::start(move |_, _| {
        let mut reply = Reply::status(302);
        reply.headers.push(("Location".into(), target.clone()));
        reply
    });
    let (home, _dir) = granted(&[ok(&allowed)]);
    home.run(["http", "GET", &allowed.url("/go")])
        .success()
        .stdout_has("http: status 302")
        .stdout_has(&format!("http: location {}", elsewhere.url("/stolen")));
    assert_eq!(allowed.count("/go"), 1);
    assert_eq!(
        elsewhere.requests().len(),
        0,
        "the host followed the redirect"
    );
}

#[test]
fn a_name_that_resolves_to_loopback_is_refused_after_resolution() {
    let srv = FaultServer::start(|_, _| Reply::status(200));
    let port = srv.base().rsplit(':').next().unwrap().to_owned();
    // `localhost` is granted by name, so it must resolve to a public address.
    let (home, _dir) = granted(&[format!("http://localhost:{port}")]);
    let run = home.run(["http", "GET", &format!("http://localhost:{port}/")]);
    run.success()
        .stdout_has("http: denied: lmi refused")
        .stdout_has("non-public address")
        .stderr_has("localhost resolves to");
    assert!(
        run.stderr.contains("127.0.0.1") || run.stderr.contains("::1"),
        "{run:#?}"
    );
    assert_eq!(srv.requests().len(), 0);
}

#[test]
fn a_wildcard_covers_subdomains_only() {
    let (home, _dir) = granted(&["https://*.example.com".to_owned()]);
    // Refused by the match itself, before any name is looked up.
    for url in [
        "https://example.com/",
        "https://evil-example.com/",
        "https://example.com.evil.net/",
        "http://api.example.com/",
        "https://api.example.com:8443/",
    ] {
        home.run(["http", "GET", url])
            .success()
            .stdout_has("http: denied")
            .stderr_has("it may reach https://*.example.com");
    }
}

#[test]
fn a_host_header_or_user_information_cannot_steer_the_request() {
    let srv = FaultServer::start(|_, _| Reply::status(200));
    let (home, _dir) = granted(&[ok(&srv)]);
    let authority = srv.base().trim_start_matches("http://").to_owned();
    // The Host header is lmi's: a plugin's is refused before anything is sent
    // (Spin's CVE-2024-32980: a Host header sent the request to another host).
    home.run(["http", "GET", &srv.url("/"), "host=evil.example"])
        .success()
        .stdout_has("http: invalid-request")
        .stdout_has("host");
    // An authority that carries another name as user information.
    home.run(["http-authority", &format!("evil.example@{authority}"), "/"])
        .success()
        .stdout_has("HttpRequestDenied")
        .stderr_has("user information");
    // The warning never shows user information (it may be a password).
    home.run([
        "http-authority",
        &format!("user:pa55w0rd-77@{authority}"),
        "/",
    ])
    .success()
    .stderr_has("user information")
    .nowhere("pa55w0rd-77");
    // An absolute URL smuggled into the path.
    home.run(["http-authority", &authority, "http://evil.example/"])
        .success()
        .stdout_has("http-authority: refused by wasi:http");
    assert_eq!(srv.requests().len(), 0, "{:#?}", srv.requests());
    // The same request without the tricks goes out with the checked Host.
    home.run(["http-authority", &authority, "/ok"])
        .success()
        .stdout_has("http-authority: status 200");
    assert_eq!(srv.requests()[0].header("host"), Some(authority.as_str()));
}

/// A server on loopback that answers every connection with `body_mib` MiB, announced with
/// a `Content-Length` or not; it counts the bytes it managed to send.
fn big_server(
    body_mib: usize,
    announce: bool,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let sent = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(4) {
            let Ok(mut conn) = conn else { return };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 2 {
                line.clear();
            }
            let length = body_mib << 20;
            let head = if announce {
                format!("HTTP/1.1 200 OK\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n")
            } else {
                "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_owned()
            };
            if conn.write_all(head.as_bytes()).is_err() {
                continue;
            }
            let chunk = vec![b'x'; 64 << 10];
            for _ in 0..(length / chunk.len()) {
                if conn.write_all(&chunk).is_err() {
                    break;
                }
                counter.fetch_add(chunk.len(), Ordering::SeqCst);
            }
        }
    });
    (base, sent)
}

/// Contract 0.2 promised a 32 MiB cap on a `wasi:http` answer, and a 0.2 plugin (the
/// committed fixture) keeps it; a 0.3 plugin's answers stream, uncapped (bounded by the run's
/// deadline and the between-bytes timeout, never held whole by lmi).
#[test]
fn a_contract_0_2_response_over_the_size_cap_is_cut_off_and_a_0_3_one_streams_whole() {
    for (announce, says) in [
        // Announced: refused with the answer's head, as `http-response-body-size`.
        (true, "larger than lmi hands a plugin"),
        // Not announced: the body breaks off at the cap while the plugin reads it.
        (false, "body size exceeds limit"),
    ] {
        // 96 MiB: a body the cap must cut short by far more than the kernel's socket buffers
        // hold on loopback (several MiB each side), so the count below can tell them apart.
        let (base, sent) = big_server(96, announce);
        let home = Home::new();
        let dir = tempfile::tempdir().unwrap();
        plugin_with_hosts(
            "tests/fixtures/contract-0.2",
            dir.path(),
            std::slice::from_ref(&base),
            "",
        );
        home.install(dir.path());
        home.run(["http", "GET", &format!("{base}/big")])
            .success()
            .stdout_has("http: network")
            .stdout_has(says);
        // Not the whole 96 MiB: reading stopped at the cap (32 MiB, plus what the socket
        // buffers took in before lmi closed the connection).
        let sent = sent.load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            sent < 64 << 20,
            "announce={announce}: {sent} bytes were sent"
        );
        // An answer over the cap to a 0.3 plugin: all of it (48 MiB, which the hostile
        // plugin holds whole in its own memory).
        let (base, _) = big_server(48, announce);
        let (home, _dir) = granted(std::slice::from_ref(&base));
        home.run(["http", "GET", &format!("{base}/big")])
            .success()
            .stdout_has(&format!("http: {} bytes", 48 << 20));
    }
    // Under the cap, the whole body arrives.
    let (base, _) = big_server(2, false);
    let (home, _dir) = granted(std::slice::from_ref(&base));
    home.run(["http", "GET", &format!("{base}/fine")])
        .success()
        .stdout_has(&format!("http: {} bytes", 2 << 20));
}

#[test]
fn a_silent_origin_is_given_up_on_at_the_http_deadline() {
    let srv =
        FaultServer::start(|_, _| Reply::status(200).delayed(std::time::Duration::from_secs(8)));
    let (mut home, _dir) = granted(&[ok(&srv)]);
    home.env("LMI_HTTP_TIMEOUT_SECS", "1");
    let started = std::time::Instant::now();
    home.run(["http", "GET", &srv.url("/slow")])
        .success()
        .stdout_has("http: network")
        .stdout_has("ConnectionReadTimeout");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn an_origin_added_later_is_refused_until_the_user_grants_it() {
    let first = FaultServer::start(|_, _| Reply::status(200));
    let second = FaultServer::start(|_, _| Reply::status(200));
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    hostile_with_hosts(dir.path(), &[ok(&first)], "");
    home.link(dir.path());
    home.run(["http", "GET", &first.url("/")])
        .success()
        .stdout_has("http: status 200");

    // The author adds an origin to the linked manifest: the run is refused, naming it.
    hostile_with_hosts(dir.path(), &[ok(&first), ok(&second)], "");
    let reach_second = format!("reach {} without your credentials", second.base());
    home.run(["http", "GET", &second.url("/")])
        .code(2)
        .stderr_has("now asks for more than you granted")
        .stderr_has(&reach_second);
    // Re-linking without a terminal or --yes asks for the new origin alone, and refuses.
    let path = dir.path().to_str().unwrap();
    let refused = home.run(["plugin", "install", path, "--link"]);
    refused.code(2).stderr_has(&reach_second);
    assert!(
        !refused.stderr.contains(&format!("reach {} ", first.base())),
        "only what is new is asked: {refused:#?}"
    );
    assert_eq!(second.requests().len(), 0);
    home.link(dir.path());
    home.run(["http", "GET", &second.url("/")])
        .success()
        .stdout_has("http: status 200");

    // Dropping an origin never asks, and the dropped one is refused from then on.
    hostile_with_hosts(dir.path(), &[ok(&second)], "");
    home.run(["plugin", "install", path, "--link"])
        .success()
        .stderr_has("its grants are lowered");
    home.run(["http", "GET", &first.url("/again")])
        .success()
        .stdout_has("http: denied");
    assert_eq!(first.count("/again"), 0);
}

/// A component that exports contract 0.1's `command` and imports `wasi:http`'s
/// `outgoing-handler` (the WIT is read from the hostile fixture, which imports it): an
/// old-contract plugin reaching for a 0.2 capability.
fn contract_0_1_component_importing_wasi_http() -> Vec<u8> {
    let hostile = std::fs::read(plugin_dir("tests/plugins/hostile").join("hostile.wasm")).unwrap();
    let wit_component::DecodedWasm::Component(mut resolve, hostile_world) =
        wit_component::decode(&hostile).unwrap()
    else {
        panic!("the hostile fixture is a component");
    };
    let handler = resolve.worlds[hostile_world]
        .imports
        .keys()
        .map(|key| resolve.name_world_key(key))
        .find(|name| name.starts_with("wasi:http/outgoing-handler@"))
        .expect("the hostile fixture imports wasi:http/outgoing-handler");
    resolve
        .push_dir(crate::support::repo_root().join("host/wit/v0.1"))
        .unwrap();
    let mixed = resolve
        .push_str(
            "mixed.wit",
            &format!(
                "package test:mixed;\nworld mixed {{\n  import {handler};\n  export lmi:plugin/command@0.1.0;\n}}\n"
            ),
        )
        .unwrap();
    let world = resolve.select_world(&[mixed], Some("mixed")).unwrap();

    // handle(request, option<options>, retptr)
    let core = crate::support::v01_module_importing(&handler, "handle", 4);
    crate::support::component_of(core, &resolve, world)
}

#[test]
fn a_0_1_component_importing_wasi_http_is_refused_and_a_0_2_one_installs() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mixed.wasm"),
        contract_0_1_component_importing_wasi_http(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("lmi-plugin.toml"),
        "name = \"mixed\"\nversion = \"0.1.0\"\nlmi = \"^0.1\"\ncomponent = \"mixed.wasm\"\n\n\
         [[commands]]\nname = \"mixed\"\nabout = \"Exports 0.1, imports wasi:http\"\n",
    )
    .unwrap();
    let path = dir.path().to_str().unwrap();
    home.run(["plugin", "install", path, "--yes"])
        .code(2)
        .stderr_has("wasi:http/");
    // The 0.2 fixture imports the same interface and installs (every other test here).
    let (home, _dir) = granted(&[]);
    home.run(["plugin", "info", "hostile"])
        .success()
        .stdout_has("0.2");
}

#[test]
fn https_origins_are_verified_against_lmis_roots_and_the_company_ca_works() {
    use crate::support::tls::{TlsFront, pki};
    let backend = FaultServer::start(|_, _| Reply::raw(200, "text/plain", "over tls"));
    let addr: std::net::SocketAddr = backend
        .base()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let good = TlsFront::start(&pki().good, addr);
    let other = TlsFront::start(&pki().untrusted, addr);
    let (mut home, _dir) = granted(&[
        format!("https://127.0.0.1:{}", good.port()),
        format!("https://127.0.0.1:{}", other.port()),
    ]);
    // Without the company CA, the certificate is refused and nothing is sent.
    home.run(["http", "GET", &good.url("127.0.0.1", "/a")])
        .success()
        .stdout_has("http: network")
        .stdout_has("TLS certificate is not trusted")
        .stderr_has("LMI_CA_BUNDLE");
    assert_eq!(backend.requests().len(), 0);
    // With it (as for every other connection lmi makes), the request goes through.
    home.env("LMI_CA_BUNDLE", pki().ca_pem.to_str().unwrap());
    home.run(["http", "GET", &good.url("127.0.0.1", "/b")])
        .success()
        .stdout_has("http: status 200")
        .stdout_has("http: 8 bytes");
    // A certificate from a CA nobody configured stays refused.
    home.run(["http", "GET", &other.url("127.0.0.1", "/c")])
        .success()
        .stdout_has("TLS certificate is not trusted");
    assert_eq!(backend.count("/b"), 1);
    assert_eq!(backend.requests().len(), 1);
}

#[test]
fn the_status_page_example_reads_a_summary_from_its_allowed_origin() {
    let page = FaultServer::start(|req, _| match req.path() {
        "/api/v2/summary.json" => Reply::json(
            200,
            serde_json::json!({
                "page": {"name": "Loopback"},
                "status": {"indicator": "minor", "description": "Minor Service Outage"},
                "components": [
                    {"name": "API", "status": "operational"},
                    {"name": "Webhooks", "status": "partial_outage"}
                ]
            }),
        ),
        _ => Reply::status(404),
    });
    // The example as shipped allows public pages; this copy allows the loopback page only.
    let dir = tempfile::tempdir().unwrap();
    copy_plugin(&plugin_dir("plugins/status-page"), dir.path());
    let manifest = dir.path().join("lmi-plugin.toml");
    let shipped = std::fs::read_to_string(&manifest).unwrap();
    let line = shipped
        .lines()
        .find(|l| l.starts_with("allowed_hosts"))
        .expect("the example asks for allowed_hosts");
    std::fs::write(
        &manifest,
        shipped.replace(line, &format!("allowed_hosts = [{:?}]", page.base())),
    )
    .unwrap();
    let home = Home::new();
    home.install(dir.path())
        .stderr_has(&format!("reach {} without your credentials", page.base()));
    home.run(["status-page", "--page", &page.base()])
        .success()
        .stdout_has("Loopback: Minor Service Outage\n  Webhooks: partial outage\n");
    assert_eq!(page.count("/api/v2/summary.json"), 1);
    // Its default page is not granted in this copy: refused before any lookup or connection.
    home.run(["status-page"])
        .code(1)
        .stderr_has("denied: lmi refused https://www.githubstatus.com/api/v2/summary.json");
    home.run(["status-page", "--help"])
        .success()
        .stdout_has("--page");
}
