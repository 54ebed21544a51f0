//! `status-page`: a public [Statuspage](https://www.atlassian.com/software/statuspage)
//! summary, fetched over plain HTTPS with no credentials at all.
//!
//! `lmi status-page [--page URL]` reads `<URL>/api/v2/summary.json` (default: GitHub's page,
//! `https://www.githubstatus.com`) and prints the overall status and every component that
//! is not operational. The manifest's `allowed_hosts` lists the origins it may reach; lmi
//! refuses any other page before connecting, and sends none of its credentials to these.
//!
//! The request goes through `lmi_plugin_sdk::http` (the standard `wasi:http`), behind the
//! `http::Client` trait, so the unit tests below run natively against `http::MockClient`.

use std::io::Write;

use lmi_plugin_sdk::clap::{self, Parser};
use lmi_plugin_sdk::http::{self, Client};
use lmi_plugin_sdk::{Context, Plugin, PluginError};
use serde_json::Value;

/// The plugin; see the crate docs.
pub struct StatusPage;

/// The page shown when none is named.
pub const DEFAULT_PAGE: &str = "https://www.githubstatus.com";

impl Plugin for StatusPage {
    fn run(ctx: &dyn Context, command: &str, args: &[String]) -> Result<u8, PluginError> {
        if command != "status-page" {
            return Err(PluginError::unknown_command(command));
        }
        let Some(cli) = clap::parse::<Cli>(ctx, command, args)? else {
            return Ok(0); // --help or --version, printed
        };
        let text = summary(&http::Wasi, &cli.page)?;
        write!(ctx.stdout(), "{text}")?;
        Ok(0)
    }
}

lmi_plugin_sdk::export!(StatusPage);

/// Show a public status page's summary.
#[derive(Debug, Parser)]
struct Cli {
    /// The status page's address (an origin its manifest allows).
    #[arg(long, default_value = DEFAULT_PAGE)]
    page: String,
}

/// The summary of `page`, as printed: the page's name and overall status, then each
/// component that is not operational.
pub fn summary(client: &dyn Client, page: &str) -> Result<String, PluginError> {
    let url = format!("{}/api/v2/summary.json", page.trim_end_matches('/'));
    let response = client.get(&url)?;
    if !response.is_success() {
        return Err(PluginError::failed(format!(
            "{url} answered {}",
            response.status
        )));
    }
    let json: Value = serde_json::from_slice(&response.body)
        .map_err(|e| PluginError::failed(format!("{url} did not answer JSON: {e}")))?;
    let name = json["page"]["name"].as_str().unwrap_or(page);
    let status = json["status"]["description"]
        .as_str()
        .ok_or_else(|| PluginError::failed(format!("{url} is not a Statuspage summary")))?;
    let mut out = format!("{name}: {status}\n");
    let components = json["components"].as_array().map_or(&[][..], Vec::as_slice);
    let mut troubled = 0;
    for c in components {
        let state = c["status"].as_str().unwrap_or("unknown");
        // Groups repeat their members' state.
        if state != "operational" && c["group"].as_bool() != Some(true) {
            troubled += 1;
            let component = c["name"].as_str().unwrap_or("(unnamed)");
            out.push_str(&format!("  {component}: {}\n", state.replace('_', " ")));
        }
    }
    if troubled == 0 && !components.is_empty() {
        out.push_str(&format!(
            "  all {} components operational\n",
            components.len()
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lmi_plugin_sdk::http::MockClient;
    use lmi_plugin_sdk::{HostError, Response};

    const SUMMARY: &str = r#"{
        "page": {"name": "GitHub"},
        "status": {"indicator": "minor", "description": "Partially Degraded Service"},
        "components": [
            {"name": "Git Operations", "status": "operational"},
            {"name": "Actions", "status": "degraded_performance"},
            {"name": "Pages", "status": "partial_outage", "group": false},
            {"name": "Group", "status": "major_outage", "group": true}
        ]
    }"#;

    fn mock(response: Response) -> MockClient {
        MockClient::new()
            .with_response("https://www.githubstatus.com/api/v2/summary.json", response)
    }

    #[test]
    fn lists_the_components_that_are_not_operational() {
        let client = mock(Response::json(200, SUMMARY));
        assert_eq!(
            summary(&client, DEFAULT_PAGE).unwrap(),
            "GitHub: Partially Degraded Service\n  Actions: degraded performance\n  Pages: partial outage\n"
        );
    }

    #[test]
    fn an_operational_page_says_so() {
        let body = r#"{"page":{"name":"P"},"status":{"description":"All Systems Operational"},
            "components":[{"name":"a","status":"operational"}]}"#;
        let client = mock(Response::json(200, body));
        assert_eq!(
            summary(&client, "https://www.githubstatus.com/").unwrap(),
            "P: All Systems Operational\n  all 1 components operational\n"
        );
    }

    #[test]
    fn failures_are_named() {
        let e = summary(&mock(Response::new(503, "")), DEFAULT_PAGE).unwrap_err();
        assert!(e.to_string().contains("answered 503"), "{e}");
        let e = summary(&mock(Response::new(200, "<html>")), DEFAULT_PAGE).unwrap_err();
        assert!(e.to_string().contains("did not answer JSON"), "{e}");
        let e = summary(&mock(Response::json(200, "{}")), DEFAULT_PAGE).unwrap_err();
        assert!(e.to_string().contains("not a Statuspage summary"), "{e}");
        // A refusal by lmi passes through as the host's error.
        let denied = MockClient::new().with_error(
            "https://status.example.com/api/v2/summary.json",
            HostError::Denied("not in allowed_hosts".into()),
        );
        assert!(matches!(
            summary(&denied, "https://status.example.com"),
            Err(PluginError::Host(HostError::Denied(_)))
        ));
    }
}
